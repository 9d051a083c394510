//! "blocked by X (reason)": the dependency a Kustomization or HelmRelease row waits on, read from
//! the store's rows of the same context (no fetch), following the chain to the root blocker.

use crate::cluster::Store;
use crate::model::ConditionStatus;
use crate::model::row::{Row, RowKey};
use std::collections::HashSet;

/// Deepest dependsOn chain followed.
const MAX_DEPTH: usize = 64;

/// Ready reason of an object waiting on a dependency (Flux).
pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";

/// The first dependency of `row` (in `spec.dependsOn` order) that is missing or not Ready, as
/// (namespace, name, its reason).
fn first_unready<'a>(store: &'a Store, row: &Row) -> Option<(String, String, Option<&'a Row>)> {
    row.depends_on.iter().find_map(|d| {
        let key = RowKey {
            context: row.context.clone(),
            kind: row.kind.kind,
            namespace: d.namespace.clone(),
            name: d.name.clone(),
        };
        match store.get(&key) {
            None => Some((d.namespace.clone(), d.name.clone(), None)),
            Some(dep) if dep.ready != ConditionStatus::True => {
                Some((d.namespace.clone(), d.name.clone(), Some(dep)))
            }
            Some(_) => None,
        }
    })
}

/// `blocked by <ns>/<name> (<its reason>)` for a Kustomization or HelmRelease that waits on a
/// dependency (its Ready reason is DependencyNotReady, or a dependency is not Ready); the root
/// blocker: the not-ready dependency whose own dependencies are ready.
pub fn blocked_by(store: &Store, row: &Row) -> Option<String> {
    if !row.kind.depends_on || row.depends_on.is_empty() {
        return None;
    }
    // A Ready object is not waiting, even when a dependency has failed since.
    if row.ready == ConditionStatus::True && row.reason != DEPENDENCY_NOT_READY {
        return None;
    }
    let (mut ns, mut name, mut dep) = first_unready(store, row)?;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    seen.insert((row.namespace.clone(), row.name.clone()));
    for _ in 0..MAX_DEPTH {
        if !seen.insert((ns.clone(), name.clone())) {
            break;
        }
        let Some(next) = dep.and_then(|d| first_unready(store, d)) else {
            break;
        };
        (ns, name, dep) = next;
    }
    let reason = match dep {
        None => "NotFound".to_string(),
        Some(d) if d.reason.is_empty() => d.ready.as_str().to_string(),
        Some(d) => d.reason.clone(),
    };
    Some(format!("blocked by {ns}/{name} ({reason})"))
}
