//! The client side: kubeconfig contexts, one session per context (client, discovery, watchers, backoff,
//! stale/forbidden state), the shared Store of Rows, and the action patches.
//!
//! API contract between the watch layer and the console (the console codes against these types):
//! sessions send [`Update`]s on a channel; the console applies them to its [`Store`].

use crate::model::KindInfo;
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
