//! `metadata.managedFields` entries: parsing (robust to malformed input), identity, capping, encoding.

use super::fieldpath::{FieldSet, decode_fields_v1, encode_fields_v1};
use serde_json::{Map, Value};

/// The manager that absorbs the oldest `Update` entries once there are too many.
pub(crate) const ANCIENT_CHANGES: &str = "ancient-changes";

/// At most this many `Update` entries are kept (`capmanagers.go`).
pub(crate) const MAX_UPDATE_ENTRIES: usize = 10;

/// `Apply` or `Update`.
pub(crate) const APPLY: &str = "Apply";
/// See [`APPLY`].
pub(crate) const UPDATE: &str = "Update";

/// One managedFields entry with its decoded field set.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) subresource: Option<String>,
    pub(crate) time: Option<String>,
    pub(crate) set: FieldSet,
    /// The stored JSON, re-emitted verbatim while the entry is unchanged.
    raw: Option<Value>,
    dirty: bool,
}

impl Entry {
    /// A new entry (not yet stored).
    pub(crate) fn new(
        manager: &str,
        operation: &str,
        api_version: &str,
        subresource: Option<&str>,
        time: &str,
        set: FieldSet,
    ) -> Entry {
        Entry {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            subresource: subresource.map(str::to_string),
            time: Some(time.to_string()),
            set,
            raw: None,
            dirty: true,
        }
    }

    /// Marks the entry as changed so it is re-encoded.
    pub(crate) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Replaces the set, marking the entry changed only if it differs.
    pub(crate) fn set_fields(&mut self, set: FieldSet) {
        if self.set != set {
            self.set = set;
            self.dirty = true;
        }
    }

    /// Removes every path of `paths` from the set.
    pub(crate) fn remove_all(&mut self, paths: &FieldSet) {
        let before = self.set.len();
        self.set.retain(|p| !paths.contains(p));
        if self.set.len() != before {
            self.dirty = true;
        }
    }

    /// True for the `Apply` entry of `manager` on `subresource`.
    pub(crate) fn is_apply_of(&self, manager: &str, subresource: Option<&str>) -> bool {
        self.operation == APPLY
            && self.manager == manager
            && self.subresource.as_deref() == subresource
    }

    /// True for the `Update` entry of `manager` at `api_version` on `subresource`.
    pub(crate) fn is_update_of(
        &self,
        manager: &str,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.operation == UPDATE
            && self.manager == manager
            && self.api_version == api_version
            && self.subresource.as_deref() == subresource
    }

    fn same_identity(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == APPLY || self.api_version == other.api_version)
    }

    fn parse(value: &Value) -> Option<Entry> {
        let map = value.as_object()?;
        let text = |key: &str| map.get(key).and_then(Value::as_str);
        let operation = text("operation")?;
        if operation != APPLY && operation != UPDATE {
            return None;
        }
        let set = map
            .get("fieldsV1")
            .map(decode_fields_v1)
            .unwrap_or_default();
        Some(Entry {
            manager: text("manager").unwrap_or_default().to_string(),
            operation: operation.to_string(),
            api_version: text("apiVersion").unwrap_or_default().to_string(),
            subresource: text("subresource")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            time: text("time").map(str::to_string),
            set,
            raw: Some(value.clone()),
            dirty: false,
        })
    }

    fn encode(&self) -> Value {
        if let (false, Some(raw)) = (self.dirty, &self.raw) {
            return raw.clone();
        }
        let mut map = Map::new();
        map.insert("manager".into(), Value::String(self.manager.clone()));
        map.insert("operation".into(), Value::String(self.operation.clone()));
        map.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            map.insert("time".into(), Value::String(time.clone()));
        }
        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        map.insert("fieldsV1".into(), encode_fields_v1(&self.set));
        if let Some(subresource) = &self.subresource {
            map.insert("subresource".into(), Value::String(subresource.clone()));
        }
        Value::Object(map)
    }

    /// Sort key of `sortEncodedManagedFields`: operation, time, manager, apiVersion, subresource.
    fn sort_key(&self) -> (&str, &str, &str, &str, &str) {
        (
            &self.operation,
            self.time.as_deref().unwrap_or(""),
            &self.manager,
            &self.api_version,
            self.subresource.as_deref().unwrap_or(""),
        )
    }
}

/// The managedFields of one object.
#[derive(Debug, Clone)]
pub(crate) struct Entries {
    pub(crate) list: Vec<Entry>,
    /// Entries were added, dropped or merged.
    structure_changed: bool,
}

impl Entries {
    /// Parses `metadata.managedFields` of `object`; malformed entries are skipped and anything not a
    /// list counts as no entries, so a damaged stored object never blocks writes.
    pub(crate) fn parse(object: &Value) -> Entries {
        let raw = object
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .and_then(Value::as_array);
        let mut list: Vec<Entry> = Vec::new();
        let mut structure_changed = false;
        for value in raw.into_iter().flatten() {
            let Some(entry) = Entry::parse(value) else {
                structure_changed = true;
                continue;
            };
            // Duplicate identities (only in hand-written objects) are merged into the first.
            if let Some(first) = list.iter_mut().find(|e| e.same_identity(&entry)) {
                first.set.extend(entry.set);
                first.dirty = true;
                structure_changed = true;
            } else {
                list.push(entry);
            }
        }
        Entries {
            list,
            structure_changed,
        }
    }

    /// Adds an entry.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.list.push(entry);
        self.structure_changed = true;
    }

    /// Drops entries with empty field sets.
    pub(crate) fn drop_empty(&mut self) {
        let before = self.list.len();
        self.list.retain(|e| !e.set.is_empty());
        if self.list.len() != before {
            self.structure_changed = true;
        }
    }

    /// True when anything must be re-encoded.
    pub(crate) fn changed(&self) -> bool {
        self.structure_changed || self.list.iter().any(|e| e.dirty)
    }

    /// Keeps at most [`MAX_UPDATE_ENTRIES`] `Update` entries by merging the oldest ones into an
    /// `ancient-changes` entry per apiVersion.
    pub(crate) fn cap_updates(&mut self) {
        let count = |list: &[Entry]| list.iter().filter(|e| e.operation == UPDATE).count();
        if count(&self.list) <= MAX_UPDATE_ENTRIES {
            return;
        }
        let mut order: Vec<usize> = (0..self.list.len())
            .filter(|&i| {
                self.list[i].operation == UPDATE && self.list[i].manager != ANCIENT_CHANGES
            })
            .collect();
        order.sort_by(|&a, &b| self.list[a].time.cmp(&self.list[b].time));
        let mut merged_away = Vec::new();
        let mut remaining = count(&self.list);
        for index in order {
            if remaining <= MAX_UPDATE_ENTRIES {
                break;
            }
            let old = self.list[index].clone();
            let bucket = self
                .list
                .iter_mut()
                .find(|e| e.is_update_of(ANCIENT_CHANGES, &old.api_version, None));
            match bucket {
                Some(bucket) => {
                    bucket.set.extend(old.set);
                    if old.time > bucket.time {
                        bucket.time = old.time;
                    }
                    bucket.dirty = true;
                    merged_away.push(index);
                    remaining -= 1;
                }
                None => {
                    // The oldest entry becomes the bucket itself: the count stays the same.
                    let entry = &mut self.list[index];
                    entry.manager = ANCIENT_CHANGES.to_string();
                    entry.subresource = None;
                    entry.dirty = true;
                }
            }
        }
        merged_away.sort_unstable();
        for index in merged_away.into_iter().rev() {
            self.list.remove(index);
        }
        self.structure_changed = true;
    }

    /// The encoded managedFields list, sorted like the real API server sorts it.
    pub(crate) fn encode(&self) -> Vec<Value> {
        let mut sorted: Vec<&Entry> = self.list.iter().collect();
        sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        sorted.into_iter().map(Entry::encode).collect()
    }

    /// Writes the entries into `object`'s metadata (removing the key when there are none).
    pub(crate) fn write_into(&self, object: &mut Value) {
        let Some(root) = object.as_object_mut() else {
            return;
        };
        let metadata = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        if let Some(meta) = metadata.as_object_mut() {
            let encoded = self.encode();
            if encoded.is_empty() {
                meta.remove("managedFields");
            } else {
                meta.insert("managedFields".into(), Value::Array(encoded));
            }
        }
    }
}
