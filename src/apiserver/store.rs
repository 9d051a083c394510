//! The in-memory object store: objects kept as pre-serialized JSON (lists and watches copy bytes, never
//! re-serialize), one cluster-wide resourceVersion counter, a bounded event ring and a broadcast channel
//! for watch fan-out.

use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// What the store keeps per object besides its bytes: the fields lists, selectors and GC need often.
#[derive(Debug)]
pub struct Meta {
    /// `metadata.resourceVersion`.
    pub rv: u64,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: Option<Map<String, Value>>,
    /// uids from `metadata.ownerReferences`.
    pub owner_uids: Vec<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (empty for cluster-scoped).
    pub namespace: String,
    /// `apiVersion` as stored.
    pub api_version: String,
}

/// One stored object: its compact JSON plus the extracted metadata. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Compact JSON of the whole object.
    pub bytes: Bytes,
    /// Frequently used metadata.
    pub meta: Arc<Meta>,
}

impl Stored {
    /// Serializes an object (which must already carry its resourceVersion).
    pub fn from_value(v: &Value) -> Stored {
        // Serializing a serde_json::Value cannot fail (all keys are strings).
        let bytes = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
        let md = v.get("metadata");
        let s = |k: &str| {
            md.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let owner_uids = md
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Stored {
            bytes,
            meta: Arc::new(Meta {
                rv: s("resourceVersion").parse().unwrap_or(0),
                uid: s("uid"),
                labels: md
                    .and_then(|m| m.get("labels"))
                    .and_then(Value::as_object)
                    .cloned(),
                owner_uids,
                deleting: md.is_some_and(|m| m.get("deletionTimestamp").is_some()),
                name: s("name"),
                namespace: s("namespace"),
                api_version: v
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            }),
        }
    }

    /// Parses the stored bytes back into a value.
    pub fn value(&self) -> Value {
        // The bytes were produced by serde_json from a Value, so they parse.
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl WatchEventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
        }
    }
}

/// One change in the store.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: WatchEventType,
    /// Storage key of the resource.
    pub resource: Arc<str>,
    /// The object after the change (for DELETED: its last state with the deletion's RV).
    pub object: Stored,
    /// The object before the change (MODIFIED only), for selector transitions.
    pub old: Option<Stored>,
}

/// A LIST snapshot kept for `continue` tokens.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Store revision the snapshot was taken at.
    pub rv: u64,
    /// Matching objects, sorted by (namespace, name).
    pub items: Arc<Vec<Stored>>,
}

type ObjectKey = (String, String);

/// The store proper (guarded by the cluster's mutex).
pub struct Store {
    objects: HashMap<Arc<str>, BTreeMap<ObjectKey, Stored>>,
    rv: u64,
    ring: VecDeque<Arc<Event>>,
    ring_capacity: usize,
    /// Watches from an RV below this get ERROR 410.
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Event>>,
    snapshots: VecDeque<(u64, Snapshot)>,
    next_snapshot: u64,
    count: usize,
}

/// How many paged-list snapshots are retained.
const SNAPSHOTS_KEPT: usize = 64;
/// Broadcast capacity: a watcher further behind than this is closed with ERROR 410.
const BROADCAST_CAPACITY: usize = 8192;

impl Store {
    /// An empty store whose event ring keeps `history` events.
    pub fn new(history: usize) -> Store {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            objects: HashMap::new(),
            rv: 1,
            ring: VecDeque::new(),
            ring_capacity: history.max(1),
            compacted_rv: 0,
            tx,
            snapshots: VecDeque::new(),
            next_snapshot: 1,
            count: 0,
        }
    }

    /// The current store revision.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Number of objects.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Takes the next resourceVersion (for a write about to be stored).
    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The object at (resource, namespace, name).
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<&Stored> {
        self.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a resource, in (namespace, name) order; `ns` = Some restricts to one namespace.
    pub fn list(&self, resource: &str, ns: Option<&str>) -> Vec<Stored> {
        let Some(map) = self.objects.get(resource) else {
            return Vec::new();
        };
        match ns {
            None => map.values().cloned().collect(),
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Every (resource, object) whose namespace is `ns`.
    pub fn in_namespace(&self, ns: &str) -> Vec<(Arc<str>, Stored)> {
        let mut out = Vec::new();
        for (res, map) in &self.objects {
            for (_, v) in map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
            {
                out.push((res.clone(), v.clone()));
            }
        }
        out
    }

    /// Every object that names `uid` among its owners.
    pub fn dependents_of(&self, uid: &str) -> Vec<(Arc<str>, Stored)> {
        let mut out = Vec::new();
        for (res, map) in &self.objects {
            for v in map.values() {
                if v.meta.owner_uids.iter().any(|u| u == uid) {
                    out.push((res.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Whether any object has this uid.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|m| m.values().any(|v| v.meta.uid == uid))
    }

    fn resource_key(&mut self, resource: &str) -> Arc<str> {
        match self.objects.get_key_value(resource) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<str> = Arc::from(resource);
                self.objects.insert(k.clone(), BTreeMap::new());
                k
            }
        }
    }

    /// Stores an object whose resourceVersion was taken with [`Store::next_rv`]; emits ADDED or MODIFIED.
    pub fn put(&mut self, resource: &str, obj: &Value) -> Stored {
        let stored = Stored::from_value(obj);
        let key = self.resource_key(resource);
        let okey = (stored.meta.namespace.clone(), stored.meta.name.clone());
        let old = self
            .objects
            .get_mut(&key)
            .and_then(|m| m.insert(okey, stored.clone()));
        if old.is_none() {
            self.count += 1;
        }
        let kind = if old.is_some() {
            WatchEventType::Modified
        } else {
            WatchEventType::Added
        };
        self.emit(Event {
            rv: stored.meta.rv,
            kind,
            resource: key,
            object: stored.clone(),
            old,
        });
        stored
    }

    /// Removes an object; `last` is its final state carrying the deletion's resourceVersion.
    pub fn remove(&mut self, resource: &str, last: &Value) -> Option<Stored> {
        let stored = Stored::from_value(last);
        let key = self.resource_key(resource);
        let okey = (stored.meta.namespace.clone(), stored.meta.name.clone());
        self.objects.get_mut(&key)?.remove(&okey)?;
        self.count -= 1;
        self.emit(Event {
            rv: stored.meta.rv,
            kind: WatchEventType::Deleted,
            resource: key,
            object: stored.clone(),
            old: None,
        });
        Some(stored)
    }

    /// Drops every object of a resource (CRD deletion), emitting DELETED for each.
    pub fn drop_resource(&mut self, resource: &str) {
        let Some(map) = self.objects.get(resource) else {
            return;
        };
        let all: Vec<Stored> = map.values().cloned().collect();
        for s in all {
            let mut v = s.value();
            let rv = self.next_rv();
            if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                md.insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
            self.remove(resource, &v);
        }
        self.objects.remove(resource);
    }

    fn emit(&mut self, ev: Event) {
        let ev = Arc::new(ev);
        if self.ring.len() >= self.ring_capacity
            && let Some(dropped) = self.ring.pop_front()
        {
            self.compacted_rv = self.compacted_rv.max(dropped.rv);
        }
        self.ring.push_back(ev.clone());
        // No receivers is fine.
        let _ = self.tx.send(ev);
    }

    /// Events after `rv` for a new watch plus a receiver for later ones; `Err(oldest)` when the ring
    /// no longer covers `rv`.
    #[allow(clippy::type_complexity)]
    pub fn watch_from(
        &self,
        rv: u64,
    ) -> Result<(Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>), u64> {
        if rv < self.compacted_rv {
            return Err(self.compacted_rv);
        }
        let backlog = self.ring.iter().filter(|e| e.rv > rv).cloned().collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// A receiver for events after now.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Forgets the event ring (fault injection): watches from any older RV get ERROR 410.
    pub fn compact(&mut self) {
        self.ring.clear();
        self.compacted_rv = self.rv;
        self.snapshots.clear();
    }

    /// Keeps a snapshot for `continue`; returns its id.
    pub fn keep_snapshot(&mut self, snap: Snapshot) -> u64 {
        let id = self.next_snapshot;
        self.next_snapshot += 1;
        self.snapshots.push_back((id, snap));
        while self.snapshots.len() > SNAPSHOTS_KEPT {
            self.snapshots.pop_front();
        }
        id
    }

    /// A retained snapshot.
    pub fn snapshot(&self, id: u64) -> Option<Snapshot> {
        self.snapshots
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str, rv: u64) -> Value {
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":name,"namespace":ns,"resourceVersion":rv.to_string(),"uid":format!("u-{name}")}})
    }

    #[test]
    fn lists_are_sorted_and_namespace_scoped() {
        let mut s = Store::new(10);
        for (ns, n) in [("b", "x"), ("a", "z"), ("a", "y"), ("ab", "q")] {
            let rv = s.next_rv();
            s.put("/configmaps", &obj(ns, n, rv));
        }
        let names: Vec<String> = s
            .list("/configmaps", None)
            .iter()
            .map(|o| format!("{}/{}", o.meta.namespace, o.meta.name))
            .collect();
        assert_eq!(names, ["a/y", "a/z", "ab/q", "b/x"]);
        assert_eq!(s.list("/configmaps", Some("a")).len(), 2);
        assert_eq!(s.count(), 4);
    }

    #[test]
    fn ring_overflow_compacts() {
        let mut s = Store::new(2);
        for i in 0..5 {
            let rv = s.next_rv();
            s.put("/configmaps", &obj("a", &format!("n{i}"), rv));
        }
        assert!(s.watch_from(2).is_err());
        let (backlog, _) = s.watch_from(s.rv() - 1).unwrap();
        assert_eq!(backlog.len(), 1);
    }
}
