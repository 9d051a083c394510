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
//! ```

pub mod actions;
pub mod clients;
pub mod discovery;
pub mod error;
pub mod kubeconfig;
pub mod session;

pub use actions::{Action, ObjectTarget, PlannedPatch};
pub use clients::{Clients, Timeouts};
pub use error::ClusterError;
pub use kubeconfig::{Contexts, KubeconfigSource};
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
#[derive(Debug, Default, Clone)]
pub struct Store {
    rows: BTreeMap<RowKey, Row>,
}

impl Store {
    /// Applies one update.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Upsert(row) => {
                self.rows.insert(row.key(), *row);
            }
            Update::Remove(key) => {
                self.rows.remove(&key);
            }
            Update::Resync {
                context,
                kind,
                rows,
            } => {
                self.rows
                    .retain(|k, _| !(k.context == context && k.kind == kind));
                for row in rows {
                    self.rows.insert(row.key(), row);
                }
            }
            Update::Context { .. } | Update::Kinds { .. } => {}
        }
    }

    /// All rows in key order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    /// One row.
    pub fn get(&self, key: &RowKey) -> Option<&Row> {
        self.rows.get(key)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
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
    fn add(&mut self, row: &Row) {
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
        self.rows.values().for_each(|r| c.add(r));
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
        for row in self.rows.values() {
            out.entry(row.context.clone()).or_default().add(row);
        }
        out
    }

    /// The rows of one context, in key order.
    pub fn rows_in<'a>(&'a self, context: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        self.rows
            .iter()
            .filter(move |(k, _)| k.context == context)
            .map(|(_, r)| r)
    }

    /// The rows of one kind across contexts, in key order.
    pub fn rows_of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        self.rows
            .iter()
            .filter(move |(k, _)| k.kind == kind)
            .map(|(_, r)| r)
    }

    /// Forgets every row of a context (when the user drops it from the view).
    pub fn remove_context(&mut self, context: &str) {
        self.rows.retain(|k, _| k.context != context);
    }
}

#[cfg(test)]
mod tests;
