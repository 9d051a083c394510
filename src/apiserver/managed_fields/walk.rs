//! Walks over JSON objects guided by list types: field sets, comparisons, merges, lookups and removal.

use super::ListTypes;
use super::fieldpath::{FieldPath, FieldSet, MAX_DEPTH, PathElement, canonical_json, key_element};
use crate::patch::ListType;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn list_type_at(list_types: &dyn ListTypes, names: &[&str]) -> ListType {
    list_types.list_type(names)
}

/// The element of one item of a non-atomic list, or `None` when the item cannot be identified.
fn item_element(item: &Value, list_type: ListType) -> Option<PathElement> {
    match list_type {
        ListType::Atomic => None,
        ListType::Set => Some(PathElement::Value(canonical_json(item))),
        ListType::Map(keys) => key_element(item.as_object()?, keys),
    }
}

/// Indexes the items of a non-atomic list; `None` if an item cannot be identified or is repeated, in which
/// case the list is handled as atomic (stored objects are never refused).
fn index_items(items: &[Value], list_type: ListType) -> Option<Vec<(PathElement, &Value)>> {
    if list_type == ListType::Atomic {
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let element = item_element(item, list_type)?;
        if !seen.insert(element.clone()) {
            return None;
        }
        out.push((element, item));
    }
    Some(out)
}

/// True when `value` nests containers deeper than `limit` (iterative, so any depth is safe to check).
pub(crate) fn exceeds_depth(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        if depth >= limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// Copies `value` without object members whose value is `null` (apply treats them as "not set").
pub(crate) fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The field set an apply configuration claims, at leaf granularity (atomic lists are leaves; empty maps
/// claim nothing). Errors describe malformed configurations: unidentifiable or repeated list items.
pub(crate) fn applied_field_set(
    config: &Value,
    list_types: &dyn ListTypes,
) -> Result<FieldSet, String> {
    let mut set = FieldSet::new();
    let mut names = Vec::new();
    let mut path = Vec::new();
    applied_map(config, &mut names, &mut path, list_types, &mut set)?;
    Ok(set)
}

fn applied_map<'v>(
    value: &'v Value,
    names: &mut Vec<&'v str>,
    path: &mut FieldPath,
    list_types: &dyn ListTypes,
    set: &mut FieldSet,
) -> Result<(), String> {
    let Some(map) = value.as_object() else {
        return Ok(());
    };
    if path.len() >= MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    for (key, child) in map {
        names.push(key);
        path.push(PathElement::Field(key.clone()));
        match child {
            Value::Array(items) => applied_list(items, names, path, list_types, set)?,
            _ if list_type_at(list_types, names) != ListType::Atomic => {
                return Err(format!("{}: must be a list", names.join(".")));
            }
            Value::Object(_) => applied_map(child, names, path, list_types, set)?,
            _ => {
                set.insert(path.clone());
            }
        }
        path.pop();
        names.pop();
    }
    Ok(())
}

fn applied_list<'v>(
    items: &'v [Value],
    names: &mut Vec<&'v str>,
    path: &mut FieldPath,
    list_types: &dyn ListTypes,
    set: &mut FieldSet,
) -> Result<(), String> {
    let list_type = list_type_at(list_types, names);
    let field = names.join(".");
    if list_type == ListType::Atomic {
        set.insert(path.clone());
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let element = match list_type {
            ListType::Map(keys) => {
                let Some(object) = item.as_object() else {
                    return Err(format!(
                        "{field}[{i}]: items of this list must be objects with key fields {keys:?}"
                    ));
                };
                key_element(object, keys).ok_or_else(|| {
                    format!("{field}[{i}]: item omits all of the key fields {keys:?}")
                })?
            }
            _ => PathElement::Value(canonical_json(item)),
        };
        if !seen.insert(element.clone()) {
            let key = match &element {
                PathElement::Key(t) | PathElement::Value(t) => t.clone(),
                other => other.encode(),
            };
            return Err(format!("{field}: duplicate entries for key {key}"));
        }
        path.push(element);
        set.insert(path.clone());
        if matches!(list_type, ListType::Map(_)) {
            applied_map(item, names, path, list_types, set)?;
        }
        path.pop();
    }
    Ok(())
}

/// Differences between two objects, as field sets (like structured-merge-diff's `Compare`): leaves that
/// were added, modified or removed, plus map nodes and list items that appeared or disappeared whole.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

impl Comparison {
    /// True when nothing differs.
    pub(crate) fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares `old` with `new`.
pub(crate) fn compare(old: &Value, new: &Value, list_types: &dyn ListTypes) -> Comparison {
    let mut out = Comparison::default();
    let mut names = Vec::new();
    let mut path = Vec::new();
    compare_node(
        Some(old),
        Some(new),
        &mut names,
        &mut path,
        list_types,
        &mut out,
    );
    out
}

fn compare_node<'v>(
    old: Option<&'v Value>,
    new: Option<&'v Value>,
    names: &mut Vec<&'v str>,
    path: &mut FieldPath,
    list_types: &dyn ListTypes,
    out: &mut Comparison,
) {
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => {
            if !path.is_empty() {
                out.added.insert(path.clone());
            }
            all_paths_below(n, names, path, list_types, &mut out.added);
        }
        (Some(o), None) => {
            if !path.is_empty() {
                out.removed.insert(path.clone());
            }
            all_paths_below(o, names, path, list_types, &mut out.removed);
        }
        (Some(o), Some(n)) => {
            if path.len() >= MAX_DEPTH {
                if o != n {
                    out.modified.insert(path.clone());
                }
                return;
            }
            match (o, n) {
                (Value::Object(a), Value::Object(b)) => {
                    for (key, child) in a {
                        names.push(key);
                        path.push(PathElement::Field(key.clone()));
                        compare_node(Some(child), b.get(key), names, path, list_types, out);
                        path.pop();
                        names.pop();
                    }
                    for (key, child) in b {
                        if a.contains_key(key) {
                            continue;
                        }
                        names.push(key);
                        path.push(PathElement::Field(key.clone()));
                        compare_node(None, Some(child), names, path, list_types, out);
                        path.pop();
                        names.pop();
                    }
                }
                (Value::Array(a), Value::Array(b)) => {
                    let list_type = list_type_at(list_types, names);
                    match (index_items(a, list_type), index_items(b, list_type)) {
                        (Some(ia), Some(ib)) => {
                            let old_items: BTreeMap<&PathElement, &Value> =
                                ia.iter().map(|(e, v)| (e, *v)).collect();
                            let new_items: BTreeMap<&PathElement, &Value> =
                                ib.iter().map(|(e, v)| (e, *v)).collect();
                            for (element, item) in &ia {
                                path.push(element.clone());
                                let other = new_items.get(element).copied();
                                compare_node(Some(item), other, names, path, list_types, out);
                                path.pop();
                            }
                            for (element, item) in &ib {
                                if old_items.contains_key(element) {
                                    continue;
                                }
                                path.push(element.clone());
                                compare_node(None, Some(item), names, path, list_types, out);
                                path.pop();
                            }
                        }
                        _ => {
                            if a != b {
                                out.modified.insert(path.clone());
                            }
                        }
                    }
                }
                _ => {
                    if o != n {
                        out.modified.insert(path.clone());
                        // A type change (map <-> scalar) drops the old sub-fields and adds the new ones.
                        all_paths_below(o, names, path, list_types, &mut out.removed);
                        all_paths_below(n, names, path, list_types, &mut out.added);
                    }
                }
            }
        }
    }
}

/// Inserts every path strictly below `path` within `value`: map fields, non-atomic list items and their
/// fields (atomic lists and scalars are leaves with nothing below).
fn all_paths_below<'v>(
    value: &'v Value,
    names: &mut Vec<&'v str>,
    path: &mut FieldPath,
    list_types: &dyn ListTypes,
    set: &mut FieldSet,
) {
    if path.len() >= MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                names.push(key);
                path.push(PathElement::Field(key.clone()));
                set.insert(path.clone());
                all_paths_below(child, names, path, list_types, set);
                path.pop();
                names.pop();
            }
        }
        Value::Array(items) => {
            let list_type = list_type_at(list_types, names);
            if let Some(indexed) = index_items(items, list_type) {
                for (element, item) in indexed {
                    path.push(element);
                    set.insert(path.clone());
                    if item.is_object() {
                        all_paths_below(item, names, path, list_types, set);
                    }
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Merges an apply configuration into the live value: maps recurse, non-atomic lists merge by item
/// (applied order, other items keep their place relative to the applied ones), everything else is replaced.
pub(crate) fn merge_applied(
    live: Option<&Value>,
    applied: &Value,
    list_types: &dyn ListTypes,
) -> Value {
    let mut names = Vec::new();
    merge_node(live, applied, &mut names, list_types)
}

fn merge_node<'v>(
    live: Option<&Value>,
    applied: &'v Value,
    names: &mut Vec<&'v str>,
    list_types: &dyn ListTypes,
) -> Value {
    if names.len() >= MAX_DEPTH {
        return applied.clone();
    }
    match (live, applied) {
        (Some(Value::Object(l)), Value::Object(a)) => {
            let mut out = l.clone();
            for (key, child) in a {
                names.push(key);
                let merged = merge_node(l.get(key), child, names, list_types);
                names.pop();
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(a)) => {
            let list_type = list_type_at(list_types, names);
            match (index_items(l, list_type), index_items(a, list_type)) {
                (Some(il), Some(ia)) => Value::Array(merge_items(&il, &ia, names, list_types)),
                _ => applied.clone(),
            }
        }
        _ => applied.clone(),
    }
}

/// Orders merged list items: live items the config does not mention stay in place; the config's items
/// come out in the config's order, each just before the next live item it mentions. Re-applying the same
/// configuration therefore never reorders anything, and a reordered configuration reorders its items.
fn merge_items<'v>(
    live: &[(PathElement, &Value)],
    applied: &[(PathElement, &'v Value)],
    names: &mut Vec<&'v str>,
    list_types: &dyn ListTypes,
) -> Vec<Value> {
    let live_by_element: BTreeMap<&PathElement, &Value> =
        live.iter().map(|(e, v)| (e, *v)).collect();
    let applied_position: BTreeMap<&PathElement, usize> = applied
        .iter()
        .enumerate()
        .map(|(i, (e, _))| (e, i))
        .collect();
    let mut out = Vec::with_capacity(live.len() + applied.len());
    let mut next = 0;
    let mut emit_applied = |upto: usize, out: &mut Vec<Value>, names: &mut Vec<&'v str>| {
        while next <= upto && next < applied.len() {
            let (element, item) = &applied[next];
            let live_item = live_by_element.get(element).copied();
            out.push(merge_node(live_item, item, names, list_types));
            next += 1;
        }
    };
    for (element, item) in live {
        match applied_position.get(element) {
            None => out.push((*item).clone()),
            Some(&position) => emit_applied(position, &mut out, names),
        }
    }
    emit_applied(usize::MAX, &mut out, names);
    out
}

/// The child of `value` at one path element.
fn child<'v>(value: &'v Value, element: &PathElement) -> Option<&'v Value> {
    match element {
        PathElement::Field(name) => value.as_object()?.get(name),
        PathElement::Index(i) => value.as_array()?.get(*i),
        PathElement::Key(_) | PathElement::Value(_) => {
            let position = item_position(value.as_array()?, element)?;
            value.as_array()?.get(position)
        }
    }
}

/// Where the list item named by a `k:`/`v:`/`i:` element sits.
fn item_position(items: &[Value], element: &PathElement) -> Option<usize> {
    match element {
        PathElement::Index(i) => (*i < items.len()).then_some(*i),
        PathElement::Key(_) => {
            let keys = element.key_fields();
            items.iter().position(|item| {
                item.as_object()
                    .is_some_and(|m| keys.iter().all(|(k, v)| m.get(k) == Some(v)))
            })
        }
        PathElement::Value(text) => items.iter().position(|item| canonical_json(item) == *text),
        PathElement::Field(_) => None,
    }
}

/// The value at `path`, if present.
pub(crate) fn get_at<'v>(value: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    path.iter().try_fold(value, child)
}

fn get_at_mut<'v>(value: &'v mut Value, path: &[PathElement]) -> Option<&'v mut Value> {
    let mut current = value;
    for element in path {
        current = match element {
            PathElement::Field(name) => current.as_object_mut()?.get_mut(name)?,
            _ => {
                let items = current.as_array_mut()?;
                let position = item_position(items, element)?;
                items.get_mut(position)?
            }
        };
    }
    Some(current)
}

/// Removes the value at `path`; returns whether something was removed.
pub(crate) fn remove_at(value: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let Some(parent) = get_at_mut(value, parent_path) else {
        return false;
    };
    match last {
        PathElement::Field(name) => parent
            .as_object_mut()
            .is_some_and(|m| m.remove(name).is_some()),
        _ => match parent.as_array_mut() {
            Some(items) => match item_position(items, last) {
                Some(position) => {
                    items.remove(position);
                    true
                }
                None => false,
            },
            None => false,
        },
    }
}

/// True when the container at `path` exists and is an empty map or list.
pub(crate) fn is_empty_container(value: &Value, path: &[PathElement]) -> bool {
    match get_at(value, path) {
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Equality of two objects ignoring `metadata.managedFields`.
pub(crate) fn equal_ignoring_managed_fields(a: &Value, b: &Value) -> bool {
    fn without(v: &Value) -> Option<Map<String, Value>> {
        let mut meta = v.get("metadata")?.as_object()?.clone();
        meta.remove("managedFields");
        Some(meta)
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let rest_equal = x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| k == "metadata" || y.get(k).is_some_and(|w| w == v));
            rest_equal
                && x.contains_key("metadata") == y.contains_key("metadata")
                && match (x.get("metadata"), y.get("metadata")) {
                    (Some(m), Some(n)) if m.is_object() && n.is_object() => {
                        without(a) == without(b)
                    }
                    (m, n) => m == n,
                }
        }
        _ => a == b,
    }
}
