//! Field paths and field sets, and their FieldsV1 wire encoding (`f:`, `k:`, `v:`, `i:`, `.`).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Deepest nesting any walk descends into; deeper input is refused (apply) or treated as a leaf.
pub(crate) const MAX_DEPTH: usize = 512;

/// One step of a field path. Variant order matches the FieldsV1 key order (`f:` < `i:` < `k:` < `v:`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// A map key or struct field.
    Field(String),
    /// A list item by position (rare; only decoded, never produced).
    Index(usize),
    /// An associative-list item, as the canonical JSON text of its key fields.
    Key(String),
    /// A set-list item, as the canonical JSON text of its value.
    Value(String),
}

/// A path from the object root.
pub(crate) type FieldPath = Vec<PathElement>;

/// A set of owned paths: leaves, plus list items and map nodes owned as a whole (`.`).
pub(crate) type FieldSet = BTreeSet<FieldPath>;

impl PathElement {
    /// The FieldsV1 key for this element.
    pub(crate) fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Index(i) => format!("i:{i}"),
            PathElement::Key(text) => format!("k:{text}"),
            PathElement::Value(text) => format!("v:{text}"),
        }
    }

    /// Parses a FieldsV1 key; `None` for anything malformed.
    pub(crate) fn decode(key: &str) -> Option<PathElement> {
        if let Some(name) = key.strip_prefix("f:") {
            return Some(PathElement::Field(name.to_string()));
        }
        if let Some(index) = key.strip_prefix("i:") {
            return index.parse().ok().map(PathElement::Index);
        }
        if let Some(text) = key.strip_prefix("k:") {
            let parsed: Value = serde_json::from_str(text).ok()?;
            // A key is a non-empty object of key fields.
            if parsed.as_object().is_none_or(|m| m.is_empty()) {
                return None;
            }
            return Some(PathElement::Key(canonical_json(&parsed)));
        }
        if let Some(text) = key.strip_prefix("v:") {
            let parsed: Value = serde_json::from_str(text).ok()?;
            return Some(PathElement::Value(canonical_json(&parsed)));
        }
        None
    }

    /// This element in kubectl's conflict notation: `.name`, `[name="web"]`, `[="x"]`, `[3]`.
    fn display(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Index(i) => format!("[{i}]"),
            PathElement::Value(text) => format!("[={text}]"),
            PathElement::Key(text) => {
                let fields = match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(m)) => m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", canonical_json(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => text.clone(),
                };
                format!("[{fields}]")
            }
        }
    }

    /// The key fields of an associative-list item element, parsed; empty for other elements.
    pub(crate) fn key_fields(&self) -> Map<String, Value> {
        match self {
            PathElement::Key(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        }
    }
}

/// A path in kubectl's notation, e.g. `.spec.containers[name="web"].image`.
pub(crate) fn display_path(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// JSON text with object keys sorted, so equal values always encode alike (FieldsV1 keys compare as text).
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out, 0);
    out
}

fn write_canonical(value: &Value, out: &mut String, depth: usize) {
    match value {
        Value::Object(map) if depth < MAX_DEPTH => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(key) {
                    write_canonical(child, out, depth + 1);
                }
            }
            out.push('}');
        }
        Value::Array(items) if depth < MAX_DEPTH => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out, depth + 1);
            }
            out.push(']');
        }
        // Too deep to matter for identity; keep the text bounded.
        Value::Object(_) | Value::Array(_) => out.push_str("null"),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The FieldsV1 element of an associative-list item: its present key fields, or `None` if it has none.
pub(crate) fn key_element(item: &Map<String, Value>, keys: &[&str]) -> Option<PathElement> {
    let mut fields = Map::new();
    for key in keys {
        match item.get(*key) {
            Some(Value::Null) | None => {}
            Some(v) => {
                fields.insert((*key).to_string(), v.clone());
            }
        }
    }
    if fields.is_empty() {
        return None;
    }
    Some(PathElement::Key(canonical_json(&Value::Object(fields))))
}

/// True when `set` holds `path` or any path below it.
pub(crate) fn owns_at_or_below(set: &FieldSet, path: &[PathElement]) -> bool {
    set.range::<[PathElement], _>((std::ops::Bound::Included(path), std::ops::Bound::Unbounded))
        .next()
        .is_some_and(|p| p.starts_with(path))
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<PathElement, Node>,
}

impl Node {
    fn to_value(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.encode(), child.to_value());
        }
        Value::Object(map)
    }
}

/// Encodes a field set as a FieldsV1 object.
pub(crate) fn encode_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.member = true;
    }
    root.to_value()
}

/// Decodes a FieldsV1 object; malformed parts are skipped, never fatal.
pub(crate) fn decode_fields_v1(value: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let mut prefix = Vec::new();
    decode_node(value, &mut prefix, &mut set);
    set
}

fn decode_node(value: &Value, prefix: &mut FieldPath, set: &mut FieldSet) {
    let Some(map) = value.as_object() else {
        return;
    };
    if prefix.len() >= MAX_DEPTH {
        return;
    }
    for (key, child) in map {
        if key == "." {
            if !prefix.is_empty() {
                set.insert(prefix.clone());
            }
            continue;
        }
        let Some(element) = PathElement::decode(key) else {
            continue;
        };
        prefix.push(element);
        match child.as_object() {
            Some(m) if m.is_empty() => {
                set.insert(prefix.clone());
            }
            Some(_) => decode_node(child, prefix, set),
            None => {}
        }
        prefix.pop();
    }
}

/// True for paths the server never tracks (`stripmeta.go`): type meta and server-owned metadata.
pub(crate) fn is_untracked(path: &[PathElement]) -> bool {
    const UNTRACKED_METADATA: [&str; 9] = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
    ];
    match path {
        [PathElement::Field(top), ..] if top == "apiVersion" || top == "kind" => true,
        [PathElement::Field(top)] if top == "metadata" => true,
        [PathElement::Field(top), PathElement::Field(field), ..] if top == "metadata" => {
            UNTRACKED_METADATA.contains(&field.as_str())
        }
        _ => false,
    }
}

/// Removes untracked paths from a set.
pub(crate) fn strip_untracked(set: &mut FieldSet) {
    set.retain(|p| !is_untracked(p));
}
