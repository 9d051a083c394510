//! Rendering stored objects for responses: plain JSON (apiVersion rewritten to the requested version),
//! Tables (§A13) and PartialObjectMetadata.

use super::registry::ResourceDef;
use super::store::Stored;
use super::table;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

/// Response representation asked for by the Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain objects and lists.
    Json,
    /// `as=Table`.
    Table,
    /// `as=PartialObjectMetadata` / `as=PartialObjectMetadataList`.
    Metadata,
}

impl Format {
    /// Reads the Accept header: the first acceptable representation wins.
    pub fn from_accept(accept: &str) -> Format {
        for part in accept.split(',') {
            let p = part.replace(' ', "");
            if p.contains("as=Table") {
                return Format::Table;
            }
            if p.contains("as=PartialObjectMetadata") {
                return Format::Metadata;
            }
            if p.starts_with("application/json") || p.starts_with("*/*") {
                return Format::Json;
            }
        }
        Format::Json
    }

    /// Content-Type of responses in this format.
    pub fn content_type(self, list: bool) -> &'static str {
        match (self, list) {
            (Format::Json, _) => "application/json",
            (Format::Table, _) => "application/json;as=Table;v=v1;g=meta.k8s.io",
            (Format::Metadata, false) => {
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
            }
            (Format::Metadata, true) => {
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
            }
        }
    }
}

/// The object's JSON with `apiVersion` set to `api_version` (bytes reused when it already matches).
pub fn object_bytes(s: &Stored, api_version: &str) -> Bytes {
    if s.meta.api_version == api_version {
        return s.bytes.clone();
    }
    // Fast path: compact serde_json output of a sorted map starts with the apiVersion key.
    let prefix = format!("{{\"apiVersion\":{}", json!(s.meta.api_version));
    if s.bytes.starts_with(prefix.as_bytes()) {
        let mut out = BytesMut::with_capacity(s.bytes.len() + 16);
        out.put_slice(b"{\"apiVersion\":");
        out.put_slice(json!(api_version).to_string().as_bytes());
        out.put_slice(&s.bytes[prefix.len()..]);
        return out.freeze();
    }
    let mut v = s.value();
    v["apiVersion"] = json!(api_version);
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// A value (not yet stored) rendered for the requested version.
pub fn with_version(mut v: Value, api_version: &str) -> Value {
    if v.is_object() {
        v["apiVersion"] = json!(api_version);
    }
    v
}

/// PartialObjectMetadata of an object.
pub fn partial_metadata(v: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
           "metadata": v.get("metadata").cloned().unwrap_or(json!({}))})
}

/// Adds `.flotilla.*` cells for built-in columns that combine several fields.
fn computed_cells(def: &ResourceDef, v: &mut Value) {
    if def.custom || !v.is_object() {
        return;
    }
    let n = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let cells = match def.kind.as_str() {
        "Deployment" | "StatefulSet" => {
            json!({"ready": format!("{}/{}", n("/status/readyReplicas"), v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1))})
        }
        "Pod" => {
            let statuses = v
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                .sum();
            let total = v
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            json!({"ready": format!("{ready}/{total}"), "restarts": restarts})
        }
        "ConfigMap" | "Secret" => {
            let count = |k: &str| v.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
            json!({"data": count("data") + count("binaryData") + count("stringData")})
        }
        "Job" => {
            let succeeded = n("/status/succeeded");
            let completions = v
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let conds = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has = |t: &str| {
                conds.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some(t)
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else {
                "Running"
            };
            json!({"jobStatus": status, "completions": format!("{succeeded}/{completions}")})
        }
        _ => return,
    };
    v["flotilla"] = cells;
}

/// Current time in Unix seconds.
pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A Table of objects, or `None` when the table renderer produced nothing.
pub fn table_of(
    def: &ResourceDef,
    version: &str,
    objects: &[Stored],
    list_meta: Value,
) -> Option<Value> {
    let columns = def
        .version(version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    let values: Vec<Value> = objects
        .iter()
        .map(|s| {
            let mut v = s.value();
            computed_cells(def, &mut v);
            v
        })
        .collect();
    let t = table::render_table(&columns, &values, list_meta, now_unix());
    t.is_object().then_some(t)
}

/// Renders a LIST response body.
pub fn list_body(
    def: &ResourceDef,
    version: &str,
    format: Format,
    items: &[Stored],
    list_meta: Value,
) -> (Bytes, &'static str) {
    let av = def.api_version(version);
    match format {
        Format::Table => {
            if let Some(t) = table_of(def, version, items, list_meta.clone()) {
                return (Bytes::from(t.to_string()), Format::Table.content_type(true));
            }
        }
        Format::Metadata => {
            let items: Vec<Value> = items.iter().map(|s| partial_metadata(&s.value())).collect();
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                              "metadata": list_meta, "items": items});
            return (
                Bytes::from(body.to_string()),
                Format::Metadata.content_type(true),
            );
        }
        Format::Json => {}
    }
    let total: usize = items.iter().map(|s| s.bytes.len() + 1).sum();
    let mut out = BytesMut::with_capacity(total + 256);
    out.put_slice(b"{\"apiVersion\":");
    out.put_slice(json!(av).to_string().as_bytes());
    out.put_slice(b",\"kind\":");
    out.put_slice(json!(def.list_kind).to_string().as_bytes());
    out.put_slice(b",\"metadata\":");
    out.put_slice(list_meta.to_string().as_bytes());
    out.put_slice(b",\"items\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&object_bytes(s, &av));
    }
    out.put_slice(b"]}");
    (out.freeze(), "application/json")
}

/// Renders a single object (GET, write responses) in the requested format.
pub fn object_body(def: &ResourceDef, version: &str, format: Format, v: &Value) -> Value {
    let v = with_version(v.clone(), &def.api_version(version));
    match format {
        Format::Json => v,
        Format::Metadata => partial_metadata(&v),
        Format::Table => {
            let s = Stored::from_value(&v);
            let rv = s.meta.rv.to_string();
            table_of(def, version, &[s], json!({"resourceVersion": rv})).unwrap_or(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_picks_format() {
        assert_eq!(
            Format::from_accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Format::Table
        );
        assert_eq!(
            Format::from_accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Format::Metadata
        );
        assert_eq!(
            Format::from_accept("application/vnd.kubernetes.protobuf,application/json"),
            Format::Json
        );
        assert_eq!(Format::from_accept(""), Format::Json);
    }

    #[test]
    fn object_bytes_rewrites_api_version() {
        let v = json!({"apiVersion":"example.dev/v1","kind":"W","metadata":{"name":"a","resourceVersion":"3"}});
        let s = Stored::from_value(&v);
        let out: Value = serde_json::from_slice(&object_bytes(&s, "example.dev/v1beta1")).unwrap();
        assert_eq!(out["apiVersion"], "example.dev/v1beta1");
        assert_eq!(out["metadata"]["name"], "a");
    }
}
