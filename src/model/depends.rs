//! dependsOn chains of Kustomizations and HelmReleases: the upstream chain (what an object waits
//! for), the reverse chain (what waits for it), each link's readiness as Flux's dependency check
//! sees it, and the root blocker ("blocked by X (reason)"). Pure: built from a list of fetched
//! objects of the subject's kind.

use super::conditions::field::{at, i64_at, kind, str_at};
use super::conditions::{self, ConditionStatus};
use super::tree::ObjectRef;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Deepest chain followed (guards against absurd data).
pub const MAX_DEPTH: usize = 64;

/// Whether a dependency lets its dependents proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Readiness {
    /// Ready=True for the current generation.
    Ready,
    /// Present but not ready (no conditions, stale generation, Ready not True).
    NotReady,
    /// Not found.
    Missing,
}

/// One link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The object.
    pub object: ObjectRef,
    /// 1 = a direct dependency (or dependent), 2 = one further…
    pub depth: usize,
    /// Its readiness.
    pub readiness: Readiness,
    /// Its Ready reason (or why it is not ready).
    pub reason: String,
    /// Its Ready message.
    pub message: String,
    /// Whether it was already shown higher in the chain (a cycle or a diamond); not expanded again.
    pub repeated: bool,
}

/// The dependency that actually blocks: not ready itself, with every dependency of its own ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The blocking object.
    pub object: ObjectRef,
    /// Its Ready reason, `NotFound`, or why it is not ready.
    pub reason: String,
    /// Its message.
    pub message: String,
}

impl Blocker {
    /// `blocked by <ns>/<name> (<reason>)`, for a STATUS cell or a detail line.
    pub fn summary(&self) -> String {
        format!(
            "blocked by {}/{} ({})",
            self.object.namespace, self.object.name, self.reason
        )
    }
}

/// The dependsOn view of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependsOnView {
    /// The object asked about.
    pub subject: ObjectRef,
    /// Upstream, depth-first in `spec.dependsOn` order.
    pub upstream: Vec<Link>,
    /// Downstream (objects that depend on the subject, transitively), depth-first by name.
    pub downstream: Vec<Link>,
    /// The root blocker, if the subject waits on something not ready.
    #[serde(rename = "blockedBy")]
    pub blocked_by: Option<Blocker>,
}

type Key = (String, String);

fn key_of(obj: &Value) -> Key {
    (
        str_at(obj, &["metadata", "namespace"])
            .unwrap_or("")
            .to_string(),
        str_at(obj, &["metadata", "name"]).unwrap_or("").to_string(),
    )
}

/// The `spec.dependsOn` entries of an object as (namespace, name); namespace defaults to its own.
pub fn dependencies(obj: &Value) -> Vec<(String, String)> {
    let own = str_at(obj, &["metadata", "namespace"]).unwrap_or("");
    at(obj, &["spec", "dependsOn"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    let name = str_at(d, &["name"])?;
                    let ns = str_at(d, &["namespace"]).unwrap_or(own);
                    Some((ns.to_string(), name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Flux's dependency check (flux-semantics §3.2 step 3, without the same-source revision rule):
/// ready when it has conditions, its status describes the current generation and Ready is True.
pub fn readiness(obj: Option<&Value>) -> (Readiness, String, String) {
    let Some(obj) = obj else {
        return (
            Readiness::Missing,
            "NotFound".to_string(),
            "dependency not found".to_string(),
        );
    };
    let ready = conditions::ready(obj);
    let generation = i64_at(obj, &["metadata", "generation"]);
    let observed = i64_at(obj, &["status", "observedGeneration"]);
    if conditions::conditions(obj).is_empty() {
        return (
            Readiness::NotReady,
            "NotReconciled".to_string(),
            "no conditions yet".to_string(),
        );
    }
    // A failed attempt leaves observedGeneration behind; its Ready reason says more than that.
    if let Some(c) = ready
        .as_ref()
        .filter(|c| c.status == ConditionStatus::False)
    {
        return (Readiness::NotReady, c.reason.clone(), c.message.clone());
    }
    if generation.is_some() && observed != generation {
        return (
            Readiness::NotReady,
            "Progressing".to_string(),
            format!(
                "generation {} not yet observed",
                generation.unwrap_or_default()
            ),
        );
    }
    match ready {
        Some(c) if c.status == ConditionStatus::True => (Readiness::Ready, c.reason, c.message),
        Some(c) => (Readiness::NotReady, c.reason, c.message),
        None => (
            Readiness::NotReady,
            "NotReady".to_string(),
            "no Ready condition".to_string(),
        ),
    }
}

/// Builds the dependsOn view of `subject` among `all` (objects of the subject's kind; others are
/// ignored).
pub fn depends_on_view(subject: &Value, all: &[Value]) -> DependsOnView {
    let subject_kind = kind(subject);
    let by_key: HashMap<Key, &Value> = all
        .iter()
        .filter(|o| kind(o) == subject_kind)
        .map(|o| (key_of(o), o))
        .collect();
    let ref_of = |k: &Key| ObjectRef {
        group: super::conditions::field::group(subject).to_string(),
        version: String::new(),
        kind: subject_kind.to_string(),
        namespace: k.0.clone(),
        name: k.1.clone(),
    };

    // Upstream: depth-first in dependsOn order.
    let mut upstream = Vec::new();
    let mut seen: HashSet<Key> = HashSet::from([key_of(subject)]);
    let mut stack: Vec<(Key, usize)> = dependencies(subject)
        .into_iter()
        .rev()
        .map(|k| (k, 1))
        .collect();
    while let Some((k, depth)) = stack.pop() {
        let obj = by_key.get(&k).copied();
        let (readiness, reason, message) = readiness(obj);
        let repeated = !seen.insert(k.clone());
        upstream.push(Link {
            object: ref_of(&k),
            depth,
            readiness,
            reason,
            message,
            repeated,
        });
        if !repeated
            && depth < MAX_DEPTH
            && let Some(o) = obj
        {
            stack.extend(dependencies(o).into_iter().rev().map(|d| (d, depth + 1)));
        }
    }

    // Downstream: who lists whom.
    let mut dependents: HashMap<Key, Vec<Key>> = HashMap::new();
    for o in by_key.values() {
        for d in dependencies(o) {
            dependents.entry(d).or_default().push(key_of(o));
        }
    }
    for list in dependents.values_mut() {
        list.sort();
    }
    let mut downstream = Vec::new();
    let mut seen: HashSet<Key> = HashSet::from([key_of(subject)]);
    let start = dependents
        .get(&key_of(subject))
        .cloned()
        .unwrap_or_default();
    let mut stack: Vec<(Key, usize)> = start.into_iter().rev().map(|k| (k, 1)).collect();
    while let Some((k, depth)) = stack.pop() {
        let obj = by_key.get(&k).copied();
        let (readiness, reason, message) = readiness(obj);
        let repeated = !seen.insert(k.clone());
        downstream.push(Link {
            object: ref_of(&k),
            depth,
            readiness,
            reason,
            message,
            repeated,
        });
        if !repeated && depth < MAX_DEPTH {
            let next = dependents.get(&k).cloned().unwrap_or_default();
            stack.extend(next.into_iter().rev().map(|d| (d, depth + 1)));
        }
    }

    let blocked_by = root_blocker(&upstream, &by_key);
    DependsOnView {
        subject: ObjectRef::of(subject),
        upstream,
        downstream,
        blocked_by,
    }
}

/// The first upstream link (depth-first) that is not ready while all of its own dependencies are.
fn root_blocker(upstream: &[Link], by_key: &HashMap<Key, &Value>) -> Option<Blocker> {
    upstream
        .iter()
        .filter(|l| l.readiness != Readiness::Ready)
        .find(|l| {
            let k = (l.object.namespace.clone(), l.object.name.clone());
            by_key.get(&k).is_none_or(|o| {
                dependencies(o)
                    .iter()
                    .all(|d| readiness(by_key.get(d).copied()).0 == Readiness::Ready)
            })
        })
        .or_else(|| {
            // A cycle of not-ready objects has no root: name the first one.
            upstream.iter().find(|l| l.readiness != Readiness::Ready)
        })
        .map(|l| Blocker {
            object: l.object.clone(),
            reason: l.reason.clone(),
            message: l.message.clone(),
        })
}

/// Prints the view: the subject, `depends on` and `required by` trees (4-char indent), and the
/// blocker line.
pub fn render_text(view: &DependsOnView) -> String {
    let mut out = format!("{}\n", view.subject.display());
    if let Some(b) = &view.blocked_by {
        out.push_str(&format!("{}: {}\n", b.summary(), one_line(&b.message)));
    }
    for (title, links) in [
        ("depends on", &view.upstream),
        ("required by", &view.downstream),
    ] {
        if links.is_empty() {
            out.push_str(&format!("{title}: (none)\n"));
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for l in links {
            let indent = "    ".repeat(l.depth);
            let state = match l.readiness {
                Readiness::Ready => "Ready".to_string(),
                Readiness::NotReady => format!("NotReady ({})", l.reason),
                Readiness::Missing => "NotFound".to_string(),
            };
            let mut line = format!("{indent}{}/{} {state}", l.object.namespace, l.object.name);
            if l.repeated {
                line.push_str(" (repeated)");
            } else if l.readiness == Readiness::NotReady && !l.message.is_empty() {
                line.push_str(": ");
                line.push_str(&one_line(&l.message));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ks(name: &str, deps: &[&str], ready: Option<(&str, &str, &str)>) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
        let conditions: Vec<Value> = ready
            .iter()
            .map(|(s, r, m)| json!({"type": "Ready", "status": s, "reason": r, "message": m}))
            .collect();
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
            "spec": {"dependsOn": deps},
            "status": {"observedGeneration": 1, "conditions": conditions}
        })
    }

    const OK: Option<(&str, &str, &str)> = Some(("True", "ReconciliationSucceeded", "Applied"));

    #[test]
    fn a_chain_of_three_names_the_root_blocker() {
        let infra = ks(
            "infra",
            &[],
            Some((
                "False",
                "HealthCheckFailed",
                "Deployment/infra/db not ready",
            )),
        );
        let apps = ks(
            "apps",
            &["infra"],
            Some((
                "False",
                "DependencyNotReady",
                "dependency 'flux-system/infra' is not ready",
            )),
        );
        let tests = ks(
            "tests",
            &["apps"],
            Some(("False", "DependencyNotReady", "x")),
        );
        let all = vec![infra.clone(), apps.clone(), tests.clone()];
        let view = depends_on_view(&tests, &all);
        let names: Vec<(&str, usize)> = view
            .upstream
            .iter()
            .map(|l| (l.object.name.as_str(), l.depth))
            .collect();
        assert_eq!(names, vec![("apps", 1), ("infra", 2)]);
        let b = view.blocked_by.clone().expect("blocked");
        assert_eq!(b.object.name, "infra");
        assert_eq!(
            b.summary(),
            "blocked by flux-system/infra (HealthCheckFailed)"
        );
        assert_eq!(
            render_text(&view),
            "Kustomization/flux-system/tests\n\
blocked by flux-system/infra (HealthCheckFailed): Deployment/infra/db not ready\n\
depends on:\n    flux-system/apps NotReady (DependencyNotReady): dependency 'flux-system/infra' is not ready\n\
\u{20}       flux-system/infra NotReady (HealthCheckFailed): Deployment/infra/db not ready\n\
required by: (none)\n"
        );
        let view = depends_on_view(&infra, &all);
        assert!(view.upstream.is_empty());
        assert_eq!(view.blocked_by, None);
        let down: Vec<(&str, usize)> = view
            .downstream
            .iter()
            .map(|l| (l.object.name.as_str(), l.depth))
            .collect();
        assert_eq!(down, vec![("apps", 1), ("tests", 2)]);
    }

    #[test]
    fn missing_stale_and_ready_dependencies() {
        let a = ks("a", &["gone", "b"], OK);
        let mut b = ks("b", &[], OK);
        b["metadata"]["generation"] = json!(2);
        let view = depends_on_view(&a, &[a.clone(), b.clone()]);
        assert_eq!(view.upstream[0].readiness, Readiness::Missing);
        assert_eq!(view.upstream[1].readiness, Readiness::NotReady);
        assert_eq!(view.upstream[1].reason, "Progressing");
        assert_eq!(view.blocked_by.unwrap().reason, "NotFound");
        let c = ks("c", &["d"], OK);
        let d = ks("d", &[], OK);
        assert_eq!(depends_on_view(&c, &[c.clone(), d]).blocked_by, None);
        assert_eq!(readiness(Some(&ks("e", &[], None))).0, Readiness::NotReady);
    }

    #[test]
    fn cycles_terminate_and_garbage_is_tolerated() {
        let a = ks("a", &["b"], Some(("False", "DependencyNotReady", "")));
        let b = ks("b", &["a"], Some(("False", "DependencyNotReady", "")));
        let view = depends_on_view(&a, &[a.clone(), b.clone()]);
        assert_eq!(view.upstream.len(), 2);
        assert!(view.upstream[1].repeated);
        assert_eq!(view.blocked_by.unwrap().object.name, "b");
        assert_eq!(view.downstream.len(), 2);
        for bad in [
            json!(null),
            json!({"spec": {"dependsOn": "x"}}),
            json!({"spec": {"dependsOn": [1, {"name": 2}]}}),
        ] {
            let v = depends_on_view(&bad, &[bad.clone(), json!(7)]);
            let _ = render_text(&v);
        }
    }
}
