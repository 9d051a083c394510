//! Rendering stored objects for responses: plain JSON (apiVersion rewritten to the requested version),
//! Tables (§A13) and PartialObjectMetadata.

use super::registry::ResourceDef;
use super::store::Stored;
use super::table;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use std::sync::Arc;

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
    let t = table::render_table(&columns, &values, list_meta, crate::model::time::now_unix());
    t.is_object().then_some(t)
}

/// Target size of one chunk of a streamed JSON LIST body: big enough to keep per-chunk overhead
/// small, small enough that a 10,000-object list never sits in memory as one buffer.
pub const LIST_CHUNK_BYTES: usize = 64 * 1024;

/// A LIST response body: small bodies are built at once, plain JSON lists are streamed.
pub enum ListBody {
    /// The whole body in one buffer.
    Whole(Bytes),
    /// The body as chunks built lazily from the snapshot while the client reads.
    Chunks(JsonListChunks),
}

/// Iterator over the chunks of a plain JSON list: `{"apiVersion":..,"kind":..,"metadata":..,"items":[`,
/// then the items (each object's stored bytes, comma separated), then `]}`; about
/// [`LIST_CHUNK_BYTES`] per chunk.
pub struct JsonListChunks {
    /// Opening of the list object, until it has been emitted.
    head: Option<Bytes>,
    /// The snapshot the page comes from (shared, not copied).
    items: Arc<Vec<Stored>>,
    /// First item of the page (no comma before it).
    start: usize,
    /// Next item to emit.
    next: usize,
    /// One past the last item of the page.
    end: usize,
    /// apiVersion the items are rendered in.
    api_version: String,
    /// Whether the closing `]}` has been emitted.
    closed: bool,
}

impl Iterator for JsonListChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.closed {
            return None;
        }
        let mut out = BytesMut::with_capacity(LIST_CHUNK_BYTES + 4096);
        if let Some(head) = self.head.take() {
            out.put_slice(&head);
        }
        while self.next < self.end && out.len() < LIST_CHUNK_BYTES {
            if self.next > self.start {
                out.put_u8(b',');
            }
            out.put_slice(&object_bytes(&self.items[self.next], &self.api_version));
            self.next += 1;
        }
        if self.next >= self.end {
            out.put_slice(b"]}");
            self.closed = true;
        }
        Some(out.freeze())
    }
}

/// Renders a LIST response body for items `start..end` of a snapshot.
pub fn list_body(
    def: &ResourceDef,
    version: &str,
    format: Format,
    snapshot: &Arc<Vec<Stored>>,
    range: std::ops::Range<usize>,
    list_meta: Value,
) -> (ListBody, &'static str) {
    let av = def.api_version(version);
    let end = range.end.min(snapshot.len());
    let start = range.start.min(end);
    let items = &snapshot[start..end];
    match format {
        Format::Table => {
            if let Some(t) = table_of(def, version, items, list_meta.clone()) {
                return (
                    ListBody::Whole(Bytes::from(t.to_string())),
                    Format::Table.content_type(true),
                );
            }
        }
        Format::Metadata => {
            let items: Vec<Value> = items.iter().map(|s| partial_metadata(&s.value())).collect();
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                              "metadata": list_meta, "items": items});
            return (
                ListBody::Whole(Bytes::from(body.to_string())),
                Format::Metadata.content_type(true),
            );
        }
        Format::Json => {}
    }
    let mut head = BytesMut::with_capacity(256);
    head.put_slice(b"{\"apiVersion\":");
    head.put_slice(json!(av).to_string().as_bytes());
    head.put_slice(b",\"kind\":");
    head.put_slice(json!(def.list_kind).to_string().as_bytes());
    head.put_slice(b",\"metadata\":");
    head.put_slice(list_meta.to_string().as_bytes());
    head.put_slice(b",\"items\":[");
    let chunks = JsonListChunks {
        head: Some(head.freeze()),
        items: Arc::clone(snapshot),
        start,
        next: start,
        end,
        api_version: av,
        closed: false,
    };
    (ListBody::Chunks(chunks), "application/json")
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

    #[test]
    fn streamed_list_is_the_concatenation_in_bounded_chunks() {
        let items: Vec<Stored> = (0..300)
            .map(|i| {
                Stored::from_value(&json!({"apiVersion":"example.dev/v1","kind":"W",
                    "metadata":{"name":format!("w{i}"),"resourceVersion":"3"},
                    "data":{"pad":"x".repeat(1000)}}))
            })
            .collect();
        let snapshot = Arc::new(items);
        let chunks: Vec<Bytes> = JsonListChunks {
            head: Some(Bytes::from_static(b"{\"items\":[")),
            items: Arc::clone(&snapshot),
            start: 10,
            next: 10,
            end: 250,
            api_version: "example.dev/v1beta1".into(),
            closed: false,
        }
        .collect();
        assert!(chunks.len() > 1, "a 240 KB page comes in several chunks");
        assert!(chunks.iter().all(|c| c.len() < LIST_CHUNK_BYTES + 4096));
        let mut expected = b"{\"items\":[".to_vec();
        for (i, s) in snapshot[10..250].iter().enumerate() {
            if i > 0 {
                expected.push(b',');
            }
            expected.extend_from_slice(&object_bytes(s, "example.dev/v1beta1"));
        }
        expected.extend_from_slice(b"]}");
        assert_eq!(chunks.concat(), expected);
        let v: Value = serde_json::from_slice(&expected).unwrap();
        assert_eq!(v["items"].as_array().map(Vec::len), Some(240));
    }

    #[test]
    fn streamed_empty_list_is_valid_json() {
        let chunks: Vec<Bytes> = JsonListChunks {
            head: Some(Bytes::from_static(b"{\"items\":[")),
            items: Arc::new(Vec::new()),
            start: 0,
            next: 0,
            end: 0,
            api_version: "v1".into(),
            closed: false,
        }
        .collect();
        assert_eq!(chunks.concat(), b"{\"items\":[]}".to_vec());
    }
}
