//! Kubernetes strategic merge patch, in two flavours: the API server's (apimachinery `strategicpatch`) and
//! kustomize v5.5.0's (kyaml `merge2`), which differ in element order and directive support.

use super::json_patch::type_name;
use super::schema::{self, ListSchema};
use super::{ListType, PatchError, SmpFlavor, TypeMeta};
use serde_json::{Map, Value};

/// Nesting deeper than this (in the target or the patch) is rejected instead of recursed into.
pub const MAX_DEPTH: usize = 512;

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Whether `patch` is an SMP document that deletes the whole object (top-level `$patch: delete`).
pub fn is_delete_patch(patch: &Value) -> bool {
    patch.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// Entry point behind [`super::strategic_merge_as`].
pub(super) fn apply(
    target: &Value,
    patch: &Value,
    type_meta: TypeMeta<'_>,
    flavor: SmpFlavor,
) -> Result<Value, PatchError> {
    for (what, value) in [("target", target), ("patch", patch)] {
        if deeper_than(value, MAX_DEPTH) {
            return Err(PatchError::Invalid(format!(
                "strategic merge {what} is nested deeper than {MAX_DEPTH} levels"
            )));
        }
    }
    let Value::Object(patch_map) = patch else {
        return Err(PatchError::Invalid(format!(
            "a strategic merge patch must be an object, got {}",
            type_name(patch)
        )));
    };
    if is_delete_patch(patch) {
        return Err(PatchError::Invalid(
            "top-level `$patch: delete` deletes the whole object; callers check is_delete_patch first"
                .to_string(),
        ));
    }
    let merger = Merger {
        type_meta,
        flavor,
        builtin: schema::is_builtin_kind(type_meta),
    };
    let mut path = Vec::new();
    match merger.merge_map(target.as_object(), patch_map, &mut path)? {
        Some(map) => Ok(Value::Object(map)),
        // Only a top-level `$patch: delete` removes the root, and that was refused above.
        None => Err(PatchError::Invalid(
            "the patch deletes the whole object".to_string(),
        )),
    }
}

/// Iterative depth check, so that the check itself cannot overflow.
fn deeper_than(value: &Value, limit: usize) -> bool {
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        if depth > limit {
            return true;
        }
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => pending.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

/// How a list field merges, resolved for the flavour.
enum Strategy {
    Replace,
    Primitives,
    ByKeys(Vec<&'static str>),
}

struct Merger<'a> {
    type_meta: TypeMeta<'a>,
    flavor: SmpFlavor,
    builtin: bool,
}

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "<root>".to_string()
    } else {
        path.join(".")
    }
}

impl Merger<'_> {
    fn strategy(&self, path: &[String]) -> Strategy {
        // kustomize only knows the kinds of its built-in schema; every list of anything else is atomic.
        if self.flavor == SmpFlavor::Kustomize && !self.builtin {
            return Strategy::Replace;
        }
        let fields: Vec<&str> = path.iter().map(String::as_str).collect();
        match schema::lookup(self.type_meta, &fields) {
            Some(ListSchema {
                ssa: ListType::Set, ..
            }) => Strategy::Primitives,
            Some(ListSchema {
                ssa: ListType::Map(keys),
                smp_key,
            }) => match (self.flavor, smp_key) {
                (SmpFlavor::ApiServer, Some(key)) => Strategy::ByKeys(vec![key]),
                _ => Strategy::ByKeys(keys.to_vec()),
            },
            _ => Strategy::Replace,
        }
    }

    /// Merges a patch map into an (optional) original map. `None` means "remove this map from its parent"
    /// (kustomize's `$patch: delete` inside a map).
    fn merge_map(
        &self,
        original: Option<&Map<String, Value>>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        let mut base = original.cloned().unwrap_or_default();
        match patch.get(PATCH_DIRECTIVE) {
            None => {}
            Some(Value::String(d)) if d == "merge" => {}
            Some(Value::String(d)) if d == "replace" => base = Map::new(),
            Some(Value::String(d)) if d == "delete" => {
                return Ok(match self.flavor {
                    // apimachinery answers a map-level delete with an empty map.
                    SmpFlavor::ApiServer => Some(Map::new()),
                    SmpFlavor::Kustomize => None,
                });
            }
            Some(other) => {
                return Err(PatchError::Invalid(format!(
                    "at {}: `$patch` must be replace, merge or delete, got {other}",
                    show(path)
                )));
            }
        }
        let honour_directives = self.flavor == SmpFlavor::ApiServer;
        if honour_directives && let Some(retain) = patch.get(RETAIN_KEYS) {
            retain_keys(&mut base, patch, retain, path)?;
        }
        // Lists as they were before this patch, for `$setElementOrder`'s server order.
        let server_lists = base.clone();
        for (key, value) in patch {
            if key == PATCH_DIRECTIVE
                || (honour_directives
                    && (key == RETAIN_KEYS
                        || key.starts_with(SET_ELEMENT_ORDER)
                        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)))
            {
                continue;
            }
            if value.is_null() {
                base.remove(key);
                continue;
            }
            path.push(key.clone());
            let merged = self.merge_value(base.get(key), value, path);
            path.pop();
            match merged? {
                Some(merged) => {
                    base.insert(key.clone(), merged);
                }
                None => {
                    base.remove(key);
                }
            }
        }
        if honour_directives {
            for (key, value) in patch {
                if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                    delete_from_list(&mut base, field, value, path)?;
                }
            }
            for (key, value) in patch {
                if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
                    path.push(field.to_string());
                    let result =
                        self.set_element_order(&mut base, &server_lists, field, value, path);
                    path.pop();
                    result?;
                }
            }
        }
        Ok(Some(base))
    }

    /// Merges one patch value into an optional original value; `None` removes the field.
    fn merge_value(
        &self,
        original: Option<&Value>,
        patch: &Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, PatchError> {
        match patch {
            Value::Object(patch_map) => Ok(self
                .merge_map(original.and_then(Value::as_object), patch_map, path)?
                .map(Value::Object)),
            Value::Array(patch_items) => {
                let original_items = match original {
                    Some(Value::Array(items)) => items.as_slice(),
                    _ => &[],
                };
                self.merge_list(original_items, patch_items, path)
                    .map(|items| Some(Value::Array(items)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn merge_list(
        &self,
        original: &[Value],
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        match self.strategy(path) {
            Strategy::Replace => match self.flavor {
                // kustomize copies an atomic list verbatim (nulls and all).
                SmpFlavor::Kustomize => Ok(patch.to_vec()),
                SmpFlavor::ApiServer => self.cleaned_items(patch, path),
            },
            Strategy::Primitives => self.merge_primitives(original, patch, path),
            Strategy::ByKeys(keys) => self.merge_by_keys(original, patch, &keys, path),
        }
    }

    /// Patch items merged onto nothing: drops nulls and directives.
    fn cleaned_items(
        &self,
        items: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Object(map) => {
                    if let Some(map) = self.merge_map(None, map, path)? {
                        out.push(Value::Object(map));
                    }
                }
                Value::Array(inner) => out.push(Value::Array(self.cleaned_items(inner, path)?)),
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    /// Sets of scalars (`finalizers`): union, with a `{$patch: replace}` item replacing the list.
    fn merge_primitives(
        &self,
        original: &[Value],
        patch: &[Value],
        path: &[String],
    ) -> Result<Vec<Value>, PatchError> {
        let mut replace = false;
        let mut values = Vec::new();
        for item in patch {
            match item.get(PATCH_DIRECTIVE) {
                Some(Value::String(d)) if d == "replace" => replace = true,
                Some(other) => {
                    return Err(PatchError::Invalid(format!(
                        "at {}: `$patch` in a list of values must be replace, got {other}",
                        show(path)
                    )));
                }
                None => {
                    if !values.contains(item) {
                        values.push(item.clone());
                    }
                }
            }
        }
        if replace {
            return Ok(values);
        }
        let server_only: Vec<Value> = original
            .iter()
            .filter(|v| !values.contains(v))
            .cloned()
            .collect();
        Ok(match self.flavor {
            SmpFlavor::Kustomize => values.into_iter().chain(server_only).collect(),
            SmpFlavor::ApiServer => interleave(server_only, values, original, |v| Some(v.clone())),
        })
    }

    fn merge_by_keys(
        &self,
        original: &[Value],
        patch: &[Value],
        keys: &[&'static str],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        let mut replace = false;
        let mut deletes: Vec<&Map<String, Value>> = Vec::new();
        let mut items: Vec<&Map<String, Value>> = Vec::new();
        for (index, item) in patch.iter().enumerate() {
            let Value::Object(map) = item else {
                return Err(PatchError::Invalid(format!(
                    "at {} item {index}: items of a list merged by {} must be objects, got {}",
                    show(path),
                    keys.join("+"),
                    type_name(item)
                )));
            };
            let directive = map.get(PATCH_DIRECTIVE);
            if matches!(directive, Some(Value::String(d)) if d == "replace") {
                replace = true;
                continue;
            }
            if !keys
                .iter()
                .any(|key| map.get(*key).is_some_and(|v| !v.is_null()))
            {
                return Err(PatchError::Invalid(format!(
                    "at {} item {index}: missing merge key {}",
                    show(path),
                    keys.join("+")
                )));
            }
            match directive {
                None => items.push(map),
                Some(Value::String(d)) if d == "merge" => items.push(map),
                Some(Value::String(d)) if d == "delete" => deletes.push(map),
                Some(other) => {
                    return Err(PatchError::Invalid(format!(
                        "at {} item {index}: `$patch` must be replace, merge or delete, got {other}",
                        show(path)
                    )));
                }
            }
        }
        let plain_items: Vec<Value> = items.iter().map(|m| Value::Object((*m).clone())).collect();
        if replace {
            return self.cleaned_items(&plain_items, path);
        }
        let survivors: Vec<&Value> = original
            .iter()
            .filter(|o| {
                !deletes
                    .iter()
                    .any(|d| o.as_object().is_some_and(|o| loose_match(o, d, keys)))
            })
            .collect();
        match self.flavor {
            SmpFlavor::ApiServer => {
                let key = keys.first().copied().unwrap_or("name");
                let mut merged: Vec<Value> = survivors.iter().map(|v| (*v).clone()).collect();
                for item in &items {
                    let position = merged.iter().position(|o| o.get(key) == item.get(key));
                    match position {
                        Some(at) => {
                            let base = merged[at].as_object().cloned();
                            merged[at] = match self.merge_map(base.as_ref(), item, path)? {
                                Some(map) => Value::Object(map),
                                None => Value::Object(Map::new()),
                            };
                        }
                        None => {
                            if let Some(map) = self.merge_map(None, item, path)? {
                                merged.push(Value::Object(map));
                            }
                        }
                    }
                }
                let id = |v: &Value| v.get(key).cloned();
                let in_patch = |v: &Value| items.iter().any(|i| i.get(key) == v.get(key));
                let (mut from_patch, server_only): (Vec<Value>, Vec<Value>) =
                    merged.into_iter().partition(|v| in_patch(v));
                from_patch.sort_by_key(|v| items.iter().position(|i| i.get(key) == v.get(key)));
                Ok(interleave(server_only, from_patch, original, id))
            }
            SmpFlavor::Kustomize if keys.len() == 1 => {
                let key = keys[0];
                let mut out = Vec::new();
                for item in &items {
                    let counterpart = survivors.iter().find(|o| o.get(key) == item.get(key));
                    let base = counterpart.and_then(|o| o.as_object());
                    if let Some(map) = self.merge_map(base, item, path)? {
                        out.push(Value::Object(map));
                    }
                }
                for survivor in &survivors {
                    if !items.iter().any(|i| i.get(key) == survivor.get(key)) {
                        out.push((*survivor).clone());
                    }
                }
                Ok(out)
            }
            SmpFlavor::Kustomize => {
                // Observed kyaml behaviour for multi-key lists: items matching no original item (a missing
                // key matches anything) come first; originals follow in order, each merged with the patch
                // item that matches it on every key. An item matching only loosely is dropped.
                let mut out = Vec::new();
                for item in &items {
                    let matches_any = survivors
                        .iter()
                        .any(|o| o.as_object().is_some_and(|o| loose_match(o, item, keys)));
                    if !matches_any && let Some(map) = self.merge_map(None, item, path)? {
                        out.push(Value::Object(map));
                    }
                }
                for survivor in &survivors {
                    let exact = items
                        .iter()
                        .find(|i| keys.iter().all(|k| i.get(*k) == survivor.get(*k)));
                    match exact {
                        Some(item) => {
                            if let Some(map) = self.merge_map(survivor.as_object(), item, path)? {
                                out.push(Value::Object(map));
                            }
                        }
                        None => out.push((*survivor).clone()),
                    }
                }
                Ok(out)
            }
        }
    }

    /// `$setElementOrder/<field>`: re-orders the merged list; items it names come in its order, the
    /// others keep their place relative to the server's list.
    fn set_element_order(
        &self,
        base: &mut Map<String, Value>,
        server_lists: &Map<String, Value>,
        field: &str,
        order: &Value,
        path: &[String],
    ) -> Result<(), PatchError> {
        let Value::Array(order) = order else {
            return Err(PatchError::Invalid(format!(
                "at {}: `$setElementOrder` must be a list, got {}",
                show(path),
                type_name(order)
            )));
        };
        // The identity of an item: its merge key value, or the value itself for a set of scalars.
        let key: Option<&'static str> = match self.strategy(path) {
            Strategy::Primitives => None,
            Strategy::ByKeys(keys) => {
                let key = keys.first().copied().unwrap_or("name");
                for (index, entry) in order.iter().enumerate() {
                    if entry.get(key).is_none() {
                        return Err(PatchError::Invalid(format!(
                            "at {} `$setElementOrder` entry {index}: missing merge key {key}",
                            show(path)
                        )));
                    }
                }
                Some(key)
            }
            // Order of an atomic list is whatever the patch said.
            Strategy::Replace => return Ok(()),
        };
        let Some(Value::Array(merged)) = base.get_mut(field) else {
            return Ok(());
        };
        let server_order = match server_lists.get(field) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let id = |v: &Value| match key {
            Some(key) => v.get(key).cloned(),
            None => Some(v.clone()),
        };
        let order_ids: Vec<Option<Value>> = order.iter().map(id).collect();
        let rank = |v: &Value| {
            let this = id(v);
            order_ids.iter().position(|o| *o == this)
        };
        let (mut named, server_only): (Vec<Value>, Vec<Value>) = std::mem::take(merged)
            .into_iter()
            .partition(|v| rank(v).is_some());
        named.sort_by_key(|v| rank(v));
        *merged = interleave(server_only, named, &server_order, id);
        Ok(())
    }
}

/// apimachinery's `mergeSortedSlice`: inserts server-only items into the patch-ordered items, each before
/// the first patch item that comes after it in the server's list.
fn interleave(
    server_only: Vec<Value>,
    from_patch: Vec<Value>,
    server_order: &[Value],
    id: impl Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    let server_ids: Vec<Option<Value>> = server_order.iter().map(&id).collect();
    let position = |v: &Value| {
        let this = id(v);
        server_ids.iter().position(|s| *s == this)
    };
    let mut out = Vec::with_capacity(server_only.len() + from_patch.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((position(l), position(r)), (Some(a), Some(b)) if a < b),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// kustomize's multi-key matching: keys present on both sides must be equal, and at least one must be.
fn loose_match(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[&str]) -> bool {
    let mut any_equal = false;
    for key in keys {
        match (a.get(*key), b.get(*key)) {
            (Some(x), Some(y)) if x == y => any_equal = true,
            (Some(_), Some(_)) => return false,
            _ => {}
        }
    }
    any_equal
}

/// `$retainKeys`: drops original fields the list does not name; the patch may only set named fields.
fn retain_keys(
    base: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &[String],
) -> Result<(), PatchError> {
    let bad = || {
        PatchError::Invalid(format!(
            "at {}: `$retainKeys` must be a list of field names",
            show(path)
        ))
    };
    let Value::Array(names) = retain else {
        return Err(bad());
    };
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.as_str().ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    for (key, value) in patch {
        let directive = key == PATCH_DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST);
        if !directive && !value.is_null() && !names.contains(&key.as_str()) {
            return Err(PatchError::Invalid(format!(
                "at {}: field {key} is set by the patch but missing from `$retainKeys`",
                show(path)
            )));
        }
    }
    base.retain(|key, _| names.contains(&key.as_str()));
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>`: removes every listed value from the list.
fn delete_from_list(
    base: &mut Map<String, Value>,
    field: &str,
    values: &Value,
    path: &[String],
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::Invalid(format!(
            "at {}: `$deleteFromPrimitiveList/{field}` must be a list, got {}",
            show(path),
            type_name(values)
        )));
    };
    if let Some(Value::Array(items)) = base.get_mut(field) {
        items.retain(|item| !values.contains(item));
    }
    Ok(())
}
