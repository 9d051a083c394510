//! The client side: kubeconfig contexts, one session per context (client, discovery, watchers, backoff,
//! stale/forbidden state), the shared Store of Rows, and the action patches.
//!
//! API contract between the watch layer and the console (the console codes against these types):
//! sessions send [`Update`]s on a channel; the console applies them to its [`Store`].
//!
//! Wiring, as the console does it:
//! ```text
//! let source = KubeconfigSource::from_env(args.kubeconfig.as_deref())?;   // --kubeconfig, KUBECONFIG, ~/.kube/config
//! let contexts = Contexts::load(&source)?;
//! let selected = contexts.select(&args.context)?;                           // --context C..., else all
//! let clients = Clients::new(contexts);
//! let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
//! let sessions = SessionSet::start(&clients, &selected,
//!     SessionOptions { namespace: args.namespace.clone(), ..Default::default() }, tx)?; // -n NS / -A
//! // rx yields Update::{Context, Kinds, Resync, Upsert, Remove}; store.apply(update).
//! // On demand: clients.fetch_object(..), clients.events_for(..), clients.apply_action(&row.key(), &action).
//! // `:events`: EventWatch::start(&clients, &selected, ns, event_tx) sends ObjectEvents of GitOps objects.
//! // Scripts (`flotilla get`): clients.list_rows(context, ns, kind) lists once, same discovery and Rows.
//! ```

pub mod actions;
pub mod clients;
pub mod commits;
pub mod discovery;
pub mod error;
pub mod events;
pub mod kubeconfig;
pub mod listing;
pub mod session;

pub use actions::{Action, ObjectTarget, PlannedPatch};
pub use clients::{Clients, Timeouts};
pub use error::ClusterError;
pub use events::{EventWatch, ObjectEvent};
pub use kubeconfig::{Contexts, KubeconfigSource};
pub use listing::ContextListing;
pub use session::{SessionOptions, SessionSet};

use crate::model::KindInfo;
use crate::model::health::Health;
use crate::model::row::{Row, RowKey};
use std::collections::BTreeMap;

/// The visible state of one context's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextState {
    /// Connecting or running discovery; no data yet.
    Connecting,
    /// Watches are running and current.
    Live,
    /// The connection was lost at `since` (unix seconds); the last data is kept on screen, dimmed.
    Stale {
        /// When the session went stale (unix seconds).
        since: i64,
        /// Why (the last error).
        message: String,
    },
    /// The API answered 403 for the GitOps kinds: shown as such, never as an empty table.
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// The server could not be reached at all (and never was in this session).
    Unreachable {
        /// The last error.
        message: String,
    },
}

/// A change reported by a session.
#[derive(Debug, Clone)]
pub enum Update {
    /// A context changed state.
    Context {
        /// Context name.
        context: String,
        /// New state.
        state: ContextState,
    },
    /// Which GitOps kinds (and the served version used) a context's cluster serves, after discovery.
    Kinds {
        /// Context name.
        context: String,
        /// The kinds found, each with the version being watched.
        kinds: Vec<(&'static KindInfo, String)>,
    },
    /// An object was added or changed.
    Upsert(Box<Row>),
    /// An object was deleted.
    Remove(RowKey),
    /// A (re)list completed: these are ALL current rows of `kind` in `context` (replace what was there).
    Resync {
        /// Context name.
        context: String,
        /// Kind.
        kind: &'static str,
        /// Every row of that kind in that context.
        rows: Vec<Row>,
    },
}

/// Rows keyed by (context, kind, namespace, name), as the console shows them.
///
/// Rows live in slots addressed by a small id, so a view can cache a sorted list of ids instead of
/// re-collecting and cloning keys on every frame; [`Store::generation`] tells it when to rebuild.
#[derive(Debug, Default, Clone)]
pub struct Store {
    index: BTreeMap<RowKey, usize>,
    slots: Vec<Option<Row>>,
    free: Vec<usize>,
    generation: u64,
}

impl Store {
    /// Applies one update.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Upsert(row) => self.insert(*row),
            Update::Remove(key) => self.remove(&key),
            Update::Resync {
                context,
                kind,
                rows,
            } => {
                let gone: Vec<RowKey> = self
                    .index
                    .keys()
                    .filter(|k| k.context == context && k.kind == kind)
                    .cloned()
                    .collect();
                for k in gone {
                    self.remove(&k);
                }
                for row in rows {
                    self.insert(row);
                }
            }
            Update::Context { .. } | Update::Kinds { .. } => return,
        }
        self.generation += 1;
    }

    fn insert(&mut self, row: Row) {
        let key = row.key();
        if let Some(&id) = self.index.get(&key) {
            self.slots[id] = Some(row);
            return;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(row);
                id
            }
            None => {
                self.slots.push(Some(row));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, id);
    }

    fn remove(&mut self, key: &RowKey) {
        if let Some(id) = self.index.remove(key) {
            self.slots[id] = None;
            self.free.push(id);
        }
    }

    /// Bumped by every update that changes rows; views rebuild their caches when it moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All rows in key order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.index.values().filter_map(|&id| self.row_at(id))
    }

    /// All row ids in key order (see [`Store::row_at`]).
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.index.values().copied()
    }

    /// The row with id `id`, while it exists (ids are reused after removal: check the generation).
    pub fn row_at(&self, id: usize) -> Option<&Row> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    /// One row.
    pub fn get(&self, key: &RowKey) -> Option<&Row> {
        self.index.get(key).and_then(|&id| self.row_at(id))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// Row counts by health, for the header and the context list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HealthCounts {
    /// Every row.
    pub total: usize,
    /// Reconciled and healthy.
    pub ready: usize,
    /// Failed, stalled or degraded.
    pub failing: usize,
    /// Suspended (Flux) or auto-sync off (Argo CD); counted here whatever their health.
    pub suspended: usize,
    /// Work in progress.
    pub progressing: usize,
    /// Nothing trustworthy to say.
    pub unknown: usize,
}

impl HealthCounts {
    /// Counts one more row (each row lands in exactly one bucket, so the buckets add up to `total`).
    pub fn add(&mut self, row: &Row) {
        self.total += 1;
        if row.suspended || row.health == Health::Suspended {
            self.suspended += 1;
            return;
        }
        match row.health {
            Health::Ready => self.ready += 1,
            Health::Failing => self.failing += 1,
            Health::Progressing => self.progressing += 1,
            Health::Suspended => self.suspended += 1,
            Health::Unknown => self.unknown += 1,
        }
    }
}

impl ContextState {
    /// A short label: `connecting`, `live`, `stale`, `forbidden`, `unreachable`.
    pub fn label(&self) -> &'static str {
        match self {
            ContextState::Connecting => "connecting",
            ContextState::Live => "live",
            ContextState::Stale { .. } => "stale",
            ContextState::Forbidden { .. } => "forbidden",
            ContextState::Unreachable { .. } => "unreachable",
        }
    }

    /// Whether the rows of this context are current (only when Live).
    pub fn is_live(&self) -> bool {
        matches!(self, ContextState::Live)
    }
}

impl Store {
    /// Counts of every row by health.
    pub fn counts(&self) -> HealthCounts {
        let mut c = HealthCounts::default();
        self.rows().for_each(|r| c.add(r));
        c
    }

    /// Counts of one context's rows by health.
    pub fn counts_in(&self, context: &str) -> HealthCounts {
        let mut c = HealthCounts::default();
        self.rows_in(context).for_each(|r| c.add(r));
        c
    }

    /// Counts per context (contexts without rows are absent).
    pub fn counts_by_context(&self) -> BTreeMap<String, HealthCounts> {
        let mut out: BTreeMap<String, HealthCounts> = BTreeMap::new();
        for row in self.rows() {
            out.entry(row.context.clone()).or_default().add(row);
        }
        out
    }

    /// The rows of one context, in key order.
    pub fn rows_in<'a>(&'a self, context: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        self.index
            .iter()
            .filter(move |(k, _)| k.context == context)
            .filter_map(|(_, &id)| self.row_at(id))
    }

    /// The rows of one kind across contexts, in key order.
    pub fn rows_of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        self.index
            .iter()
            .filter(move |(k, _)| k.kind == kind)
            .filter_map(|(_, &id)| self.row_at(id))
    }

    /// Forgets every row of a context (when the user drops it from the view).
    pub fn remove_context(&mut self, context: &str) {
        let gone: Vec<RowKey> = self
            .index
            .keys()
            .filter(|k| k.context == context)
            .cloned()
            .collect();
        for k in &gone {
            self.remove(k);
        }
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests;
