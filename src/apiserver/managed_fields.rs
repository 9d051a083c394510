//! Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply, as pure functions.
//!
//! API contract (the REST layer codes against these signatures; bodies are filled in by the SSA work):
//! - [`server_side_apply`]: apply `applied` for a manager onto `live`, with conflicts and `force`.
//! - [`record_update`]: update ownership after a non-apply write (POST, PUT, merge/JSON/SMP patch).
//! - [`conflict_message`]: the exact 409 message the real API server gives for apply conflicts.
//!
//! Neither touches `resourceVersion`, `generation` or timestamps other than `managedFields[].time`.
//! A write that changes nothing returns the stored object unchanged, byte for byte, `time` included.
//! Null members of an apply configuration mean "not set": they are neither owned nor written.
//! Apply conflicts only arise with entries of the same subresource. Like the real API server, a
//! non-apply write to the main resource that sets `managedFields` to well-formed entries different from
//! the stored ones replaces the stored entries (kubectl's client-side-apply upgrade relies on it), and
//! `[]` or `[{}]` clears them; malformed entries, or any `managedFields` sent through `/status`, are
//! ignored (ownership then derives from the stored object).
//! Dropping `.status` (main endpoint) or everything but `.status` (`/status`) is the caller's job.

mod entries;
mod fieldpath;
#[cfg(test)]
mod tests;
mod walk;

use crate::patch::ListType;
use entries::{APPLY, Entries, Entry, UPDATE};
use fieldpath::{FieldSet, display_path, is_untracked, owns_at_or_below, strip_untracked};
use serde_json::Value;

/// Tells how a list at a field path merges (built-in merge keys, CRD `x-kubernetes-list-type`).
pub trait ListTypes {
    /// The list type at `path` (field names from the root, list items not included).
    fn list_type(&self, path: &[&str]) -> ListType;
}

/// Who is writing, and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The field manager (`fieldManager` query parameter, or derived from the User-Agent).
    pub manager: &'a str,
    /// `apiVersion` of the request (recorded in the managedFields entry).
    pub api_version: &'a str,
    /// `Some("status")` for writes through the status subresource.
    pub subresource: Option<&'a str>,
    /// RFC 3339 second-precision UTC timestamp for the entry's `time`.
    pub now: &'a str,
}

/// One field owned by another manager whose value the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The other entry's apiVersion.
    pub api_version: String,
    /// The other entry's subresource, if any.
    pub subresource: Option<String>,
    /// The field in kubectl's notation, e.g. `.spec.replicas` or `.spec.containers[name="web"].image`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    /// Fields owned by other managers would change and `force` was not given (HTTP 409).
    #[error("apply failed with {} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is malformed (HTTP 400/422), e.g. duplicate keys in an associative list.
    #[error("{0}")]
    Invalid(String),
}

/// Server-side apply of `applied` by `writer` onto `live` (`None` when the object does not exist yet).
/// Returns the new object, with `metadata.managedFields` updated. The caller decides no-op detection
/// (compare the result with `live`), generation and resourceVersion.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    writer: &Writer<'_>,
    force: bool,
    list_types: &dyn ListTypes,
) -> Result<Value, ApplyError> {
    let config = prepare_config(applied)?;
    let mut applied_set = walk::applied_field_set(&config, list_types)
        .map_err(|e| ApplyError::Invalid(format!("invalid apply configuration: {e}")))?;
    strip_untracked(&mut applied_set);

    let empty = Value::Object(serde_json::Map::new());
    let live_object = live.filter(|v| v.is_object()).unwrap_or(&empty);
    let mut entries = Entries::parse(live_object);
    let own = entries
        .list
        .iter()
        .position(|e| e.is_apply_of(writer.manager, writer.subresource));
    let previous_set = own.map(|i| entries.list[i].set.clone()).unwrap_or_default();

    let mut result = walk::merge_applied(Some(live_object), &config, list_types);

    // Fields this manager applied before but no longer applies go away unless someone else owns them.
    let others: Vec<&FieldSet> = entries
        .list
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != own)
        .map(|(_, e)| &e.set)
        .collect();
    let owned_by_anyone = |path: &[fieldpath::PathElement]| {
        owns_at_or_below(&applied_set, path) || others.iter().any(|s| owns_at_or_below(s, path))
    };
    let mut dropped: Vec<&Vec<fieldpath::PathElement>> = previous_set
        .iter()
        .filter(|p| !applied_set.contains(*p))
        .collect();
    // Deepest first, so an item's own fields go before the item.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        if owned_by_anyone(path) || is_key_field(path) {
            continue;
        }
        if walk::remove_at(&mut result, path) {
            prune_empty_parents(&mut result, path, &owned_by_anyone);
        }
    }

    let comparison = tracked_comparison(live_object, &result, list_types);
    let changed_paths: FieldSet = comparison
        .modified
        .union(&comparison.added)
        .cloned()
        .collect();

    // Conflicts: other owners (same subresource) of fields whose value this apply changes.
    let mut conflicts = Vec::new();
    for (i, entry) in entries.list.iter().enumerate() {
        if Some(i) == own || entry.subresource.as_deref() != writer.subresource {
            continue;
        }
        for path in entry.set.intersection(&changed_paths) {
            conflicts.push((
                path,
                Conflict {
                    manager: entry.manager.clone(),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    subresource: entry.subresource.clone(),
                    field: display_path(path),
                },
            ));
        }
    }
    if !conflicts.is_empty() && !force {
        // kubectl's first server-side apply takes over what client-side apply set, as long as the
        // live values still are the last-applied ones (the real server's lastAppliedManager).
        let allowed = client_side_apply_takeover(writer, live_object, list_types);
        let remaining: Vec<Conflict> = conflicts
            .into_iter()
            .filter(|(path, _)| !allowed.contains(*path))
            .map(|(_, conflict)| conflict)
            .collect();
        if !remaining.is_empty() {
            return Err(ApplyError::Conflicts(remaining));
        }
    }

    for (i, entry) in entries.list.iter_mut().enumerate() {
        if Some(i) == own {
            continue;
        }
        if entry.subresource.as_deref() == writer.subresource {
            entry.remove_all(&changed_paths);
        }
        entry.remove_all(&comparison.removed);
    }

    sync_last_applied(writer, applied, &mut result);
    let object_changed =
        live.is_none() || !walk::equal_ignoring_managed_fields(live_object, &result);
    match own {
        Some(i) => {
            let entry = &mut entries.list[i];
            if object_changed || entry.set != applied_set || entry.api_version != writer.api_version
            {
                entry.set_fields(applied_set);
                entry.api_version = writer.api_version.to_string();
                entry.time = Some(writer.now.to_string());
                entry.touch();
            }
        }
        None => entries.push(Entry::new(
            writer.manager,
            APPLY,
            writer.api_version,
            writer.subresource,
            writer.now,
            applied_set,
        )),
    }
    entries.drop_empty();

    if let Some(live) = live
        && !object_changed
        && !entries.changed()
    {
        return Ok(live.clone());
    }
    entries.write_into(&mut result);
    Ok(result)
}

/// Records ownership after a non-apply write: fields `new` adds or changes relative to `old` go into
/// `writer`'s `Update` entry and are taken from every other manager; removed fields leave every set.
/// Rewrites `new`'s `metadata.managedFields`.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    writer: &Writer<'_>,
    list_types: &dyn ListTypes,
) {
    if !new.is_object() {
        return;
    }
    let empty = Value::Object(serde_json::Map::new());
    let old_object = old.filter(|v| v.is_object()).unwrap_or(&empty);
    let comparison = tracked_comparison(old_object, new, list_types);
    let requested = requested_entries(old_object, new, writer);
    if matches!(requested, Requested::Reset) {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        return;
    }
    let from_request = matches!(requested, Requested::Replace(_));
    let mut entries = match requested {
        Requested::Replace(entries) => entries,
        _ => Entries::parse(old_object),
    };
    if comparison.is_same() && from_request {
        // Only managedFields changed: the request's entries become the stored ones.
        entries.drop_empty();
        entries.write_into(new);
        return;
    }
    if comparison.is_same() {
        // Nothing tracked changed: ownership stays exactly as stored.
        let stored = old_object
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .cloned();
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            match stored {
                Some(stored) => {
                    meta.insert("managedFields".into(), stored);
                }
                None => {
                    meta.remove("managedFields");
                }
            }
        } else if stored.is_some() {
            entries.write_into(new);
        }
        return;
    }
    let changed: FieldSet = comparison
        .modified
        .union(&comparison.added)
        .cloned()
        .collect();
    let own = |e: &Entry| e.is_update_of(writer.manager, writer.api_version, writer.subresource);
    for entry in entries.list.iter_mut().filter(|e| !own(e)) {
        entry.remove_all(&changed);
        entry.remove_all(&comparison.removed);
    }
    match entries.list.iter_mut().find(|e| own(e)) {
        Some(entry) => {
            let mut set = entry.set.clone();
            set.extend(changed);
            set.retain(|p| !comparison.removed.contains(p));
            entry.set_fields(set);
            entry.time = Some(writer.now.to_string());
            entry.touch();
        }
        None => entries.push(Entry::new(
            writer.manager,
            UPDATE,
            writer.api_version,
            writer.subresource,
            writer.now,
            changed,
        )),
    }
    entries.drop_empty();
    entries.cap_updates();
    entries.write_into(new);
}

/// The manager kubectl uses for server-side apply; only it takes over client-side-applied fields.
const KUBECTL_MANAGER: &str = "kubectl";

/// kubectl's client-side apply record of the last applied configuration.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Fields an apply by kubectl may take over without a conflict: those of the last-applied
/// configuration whose live values are still the last-applied ones. Empty for any other writer or
/// without a (parsable) annotation.
fn client_side_apply_takeover(
    writer: &Writer<'_>,
    live: &Value,
    list_types: &dyn ListTypes,
) -> FieldSet {
    if writer.manager != KUBECTL_MANAGER || writer.subresource.is_some() {
        return FieldSet::new();
    }
    let Some(last_applied) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return FieldSet::new();
    };
    let Ok(config) = prepare_config(&last_applied) else {
        return FieldSet::new();
    };
    let Ok(mut set) = walk::applied_field_set(&config, list_types) else {
        return FieldSet::new();
    };
    strip_untracked(&mut set);
    let comparison = walk::compare(&config, live, list_types);
    set.retain(|p| !comparison.modified.contains(p) && !comparison.removed.contains(p));
    set
}

/// After an apply by kubectl, a client-side-apply annotation left on the object is rewritten to the
/// applied configuration (the real server's lastAppliedUpdater), so later client-side applies agree.
fn sync_last_applied(writer: &Writer<'_>, applied: &Value, result: &mut Value) {
    if writer.manager != KUBECTL_MANAGER || writer.subresource.is_some() {
        return;
    }
    let Some(annotations) = result
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if !annotations.contains_key(LAST_APPLIED_ANNOTATION) {
        return;
    }
    let mut config = applied.clone();
    if let Some(own) = config
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        own.remove(LAST_APPLIED_ANNOTATION);
    }
    annotations.insert(
        LAST_APPLIED_ANNOTATION.into(),
        Value::String(format!("{config}\n")),
    );
}

/// What a non-apply write does with the `managedFields` it carries.
enum Requested {
    /// Keep deriving ownership from the stored object.
    Stored,
    /// `[]` or `[{}]`: drop every entry.
    Reset,
    /// Well-formed entries different from the stored ones replace them.
    Replace(Entries),
}

/// Decides [`Requested`] for `new` (the real server's `isResetManagedFields` + `decodeLiveOrNew`).
fn requested_entries(old: &Value, new: &Value, writer: &Writer<'_>) -> Requested {
    if writer.subresource.is_some() {
        return Requested::Stored;
    }
    let Some(sent) = new.get("metadata").and_then(|m| m.get("managedFields")) else {
        return Requested::Stored;
    };
    let Some(list) = sent.as_array() else {
        return Requested::Stored;
    };
    match list.as_slice() {
        [] => return Requested::Reset,
        [only] if only.as_object().is_some_and(serde_json::Map::is_empty) => {
            return Requested::Reset;
        }
        _ => {}
    }
    let stored = old.get("metadata").and_then(|m| m.get("managedFields"));
    if stored == Some(sent) || !list.iter().all(well_formed_entry) {
        return Requested::Stored;
    }
    Requested::Replace(Entries::parse(new))
}

/// Whether an entry decodes on the real server: operation Apply/Update, an apiVersion, FieldsV1.
fn well_formed_entry(entry: &Value) -> bool {
    let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
    matches!(text("operation"), APPLY | UPDATE)
        && !text("apiVersion").is_empty()
        && text("fieldsType") == "FieldsV1"
        && entry.get("fieldsV1").is_none_or(Value::is_object)
}

impl Conflict {
    /// The owner as the API server names it: `"mgr"`, plus ` with subresource "status"` when set, plus
    /// ` using v1` for `Update` owners.
    pub fn owner(&self) -> String {
        let mut out = go_quote(&self.manager);
        if let Some(subresource) = &self.subresource {
            out.push_str(" with subresource ");
            out.push_str(&go_quote(subresource));
        }
        if self.operation == UPDATE {
            out.push_str(" using ");
            out.push_str(&self.api_version);
        }
        out
    }

    /// The message of this conflict's `FieldManagerConflict` cause, e.g. `conflict with "kubectl" using v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.owner())
    }
}

/// The 409 message for apply conflicts, formatted exactly as the real API server does:
/// `Apply failed with 1 conflict: conflict with "m" using v1: .data.a`, or for several, grouped by owner:
/// `Apply failed with 2 conflicts: conflicts with "m":\n- .spec.a\n- .spec.b`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.owner(),
            only.field
        );
    }
    let mut owners: Vec<(&str, &str, &str, Option<&str>)> = conflicts
        .iter()
        .map(|c| {
            (
                c.manager.as_str(),
                c.operation.as_str(),
                c.api_version.as_str(),
                c.subresource.as_deref(),
            )
        })
        .collect();
    owners.sort();
    owners.dedup();
    let mut lines = Vec::new();
    for owner in owners {
        let mut group = conflicts.iter().filter(|c| {
            (
                c.manager.as_str(),
                c.operation.as_str(),
                c.api_version.as_str(),
                c.subresource.as_deref(),
            ) == owner
        });
        if let Some(first) = group.next() {
            lines.push(format!("conflicts with {}:", first.owner()));
            lines.push(format!("- {}", first.field));
        }
        lines.extend(group.map(|c| format!("- {}", c.field)));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// A string quoted like Go's `%q` (JSON string escaping agrees for all printable text).
fn go_quote(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// Validates an apply configuration and returns the part that is merged: without null members and without
/// server-owned metadata (identity fields stay so that creating through apply works).
fn prepare_config(applied: &Value) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "invalid apply configuration: the body must be a JSON object".into(),
        ));
    }
    if walk::exceeds_depth(applied, fieldpath::MAX_DEPTH) {
        return Err(ApplyError::Invalid(format!(
            "invalid apply configuration: nesting deeper than {} levels",
            fieldpath::MAX_DEPTH
        )));
    }
    let mut config = walk::without_nulls(applied);
    if let Some(metadata) = config.get_mut("metadata") {
        let Some(meta) = metadata.as_object_mut() else {
            return Err(ApplyError::Invalid(
                "invalid apply configuration: metadata must be an object".into(),
            ));
        };
        for field in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
        ] {
            meta.remove(field);
        }
        for field in ["labels", "annotations"] {
            if meta.get(field).is_some_and(|v| !v.is_object()) {
                return Err(ApplyError::Invalid(format!(
                    "invalid apply configuration: metadata.{field} must be an object"
                )));
            }
        }
    }
    Ok(config)
}

/// The comparison of two objects restricted to tracked fields.
fn tracked_comparison(old: &Value, new: &Value, list_types: &dyn ListTypes) -> walk::Comparison {
    let mut comparison = walk::compare(old, new, list_types);
    strip_untracked(&mut comparison.added);
    strip_untracked(&mut comparison.modified);
    strip_untracked(&mut comparison.removed);
    comparison
}

/// True for a key field of an associative-list item (`.containers[name="x"].name`): it lives and dies
/// with its item.
fn is_key_field(path: &[fieldpath::PathElement]) -> bool {
    match path {
        [
            ..,
            item @ fieldpath::PathElement::Key(_),
            fieldpath::PathElement::Field(name),
        ] => item.key_fields().contains_key(name),
        _ => false,
    }
}

/// After removing `path`, removes the maps and lists above it that became empty and nobody owns.
fn prune_empty_parents(
    object: &mut Value,
    path: &[fieldpath::PathElement],
    owned: &dyn Fn(&[fieldpath::PathElement]) -> bool,
) {
    let mut end = path.len();
    while end > 1 {
        end -= 1;
        let parent = &path[..end];
        if is_untracked(parent) || owned(parent) || !walk::is_empty_container(object, parent) {
            return;
        }
        walk::remove_at(object, parent);
    }
}
