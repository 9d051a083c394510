//! The comparison of the rendered desired state with the live cluster: desired objects made
//! ready to apply (destination namespace, tracking annotation), per-resource Synced/OutOfSync
//! by server-side dry-run (normalised like the Kustomization drift detection, minus
//! `ignoreDifferences`), health, and tracked live objects that are no longer in Git.

use serde_json::{Value, json};
use std::collections::BTreeSet;

use super::health::{resource_health, worse};
use super::live::{Live, split_api_version};
use super::spec::{AppSpec, IgnoreDifference};
use super::strings;
use crate::apply::has_drifted;
use crate::model::health::ArgoHealth;

/// What identifies a resource in `status.resources` (group, kind, namespace, name) plus its version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// API group (empty = core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty = cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// API version.
    pub version: String,
}

impl ResourceKey {
    /// The key of a manifest.
    pub fn of(obj: &Value) -> ResourceKey {
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let api = s("/apiVersion");
        let (g, v) = split_api_version(&api);
        ResourceKey {
            group: g.to_string(),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            version: v.to_string(),
        }
    }

    /// Reads a `status.resources[]` entry.
    pub fn from_status(v: &Value) -> ResourceKey {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        ResourceKey {
            group: s("group"),
            kind: s("kind"),
            namespace: s("namespace"),
            name: s("name"),
            version: s("version"),
        }
    }

    /// `apiVersion` of this key.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// A minimal object naming this resource (for reads and deletes).
    pub fn stub(&self) -> Value {
        json!({"apiVersion": self.api_version(), "kind": self.kind,
               "metadata": {"name": self.name, "namespace": self.namespace}})
    }

    /// Same resource, ignoring the version.
    pub fn same(&self, other: &ResourceKey) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }

    /// kubectl's name for it (`deployment.apps/web`).
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        if self.group.is_empty() {
            format!("{kind}/{}", self.name)
        } else {
            format!("{kind}.{}/{}", self.group, self.name)
        }
    }
}

/// The tracking id Argo CD 3 writes: `<app>:<group>/<kind>:<namespace>/<name>`.
pub fn tracking_id(app: &str, key: &ResourceKey) -> String {
    format!(
        "{app}:{}/{}:{}/{}",
        key.group, key.kind, key.namespace, key.name
    )
}

/// The hook type of a manifest (Argo's annotation, or Helm's mapped as Argo maps it).
pub fn hook_type(obj: &Value) -> Option<String> {
    let ann = obj.pointer("/metadata/annotations");
    let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
    if let Some(h) = get(strings::HOOK) {
        return h
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string);
    }
    let helm = get("helm.sh/hook")?;
    let mapped = helm.split(',').map(str::trim).find_map(|h| match h {
        "pre-install" | "pre-upgrade" => Some("PreSync"),
        "post-install" | "post-upgrade" => Some("PostSync"),
        "test" | "test-success" | "test-failure" => Some("Skip"),
        _ => None,
    })?;
    Some(mapped.to_string())
}

/// The sync wave of a manifest (Argo's annotation, else Helm's hook weight for hooks, else 0).
pub fn sync_wave(obj: &Value) -> i64 {
    let ann = obj.pointer("/metadata/annotations");
    let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
    get(strings::SYNC_WAVE)
        .or_else(|| get("helm.sh/hook-weight"))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// One managed (non-hook) resource after the comparison.
#[derive(Debug, Clone)]
pub struct Managed {
    /// Identity.
    pub key: ResourceKey,
    /// The desired manifest (None = only live, requires pruning).
    pub desired: Option<Value>,
    /// The live object.
    pub live: Option<Value>,
    /// `Synced` or `OutOfSync`.
    pub synced: bool,
    /// Argo health (None = no check for this kind).
    pub health: Option<(ArgoHealth, String)>,
    /// The sync wave.
    pub wave: i64,
    /// Tracked live object no longer in Git.
    pub requires_pruning: bool,
    /// Why the dry-run failed, if it did.
    pub error: Option<String>,
}

/// The comparison of one Application.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The resolved commit.
    pub revision: String,
    /// Managed resources, in render order, then the ones to prune.
    pub resources: Vec<Managed>,
    /// Hook manifests (prepared), in render order.
    pub hooks: Vec<Value>,
    /// Every resource Synced.
    pub synced: bool,
    /// App-level health and its message.
    pub health: (ArgoHealth, String),
    /// Images of the live workloads, sorted.
    pub images: Vec<String>,
}

/// Sets namespaces and the tracking annotation on rendered objects (Argo's `SetAppInstance` and
/// destination-namespace defaulting); an unknown kind fails.
pub async fn prepare(
    live: &Live,
    app: &str,
    spec: &AppSpec,
    rendered: Vec<Value>,
) -> Result<Vec<Value>, String> {
    let mut out: Vec<Value> = Vec::with_capacity(rendered.len());
    for mut obj in rendered {
        let api = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let namespaced = match live.kind(&api, &kind).await {
            Ok(k) => k.namespaced,
            // Unknown kinds (e.g. a CRD applied by an earlier wave) are taken as namespaced;
            // the dry-run reports them.
            Err(_) => true,
        };
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let md = &mut obj["metadata"];
        if namespaced {
            let ns = md.get("namespace").and_then(Value::as_str).unwrap_or("");
            if ns.is_empty() {
                let dest = if spec.destination.namespace.is_empty() {
                    "default"
                } else {
                    spec.destination.namespace.as_str()
                };
                md["namespace"] = json!(dest);
            }
        } else if let Some(m) = md.as_object_mut() {
            m.remove("namespace");
        }
        let key = ResourceKey::of(&obj);
        if !obj["metadata"]
            .get("annotations")
            .is_some_and(Value::is_object)
        {
            obj["metadata"]["annotations"] = json!({});
        }
        obj["metadata"]["annotations"][strings::TRACKING_ID] = json!(tracking_id(app, &key));
        if !out
            .iter()
            .any(|o| ResourceKey::of(o).same(&key) && hook_type(o).is_none())
            || hook_type(&obj).is_some()
        {
            out.push(obj);
        }
    }
    Ok(out)
}

/// The jq path subset (`.a.b`, `.a[]?.b`, `.a["k"]`) as pointer segments (`*` = every array item).
fn jq_segments(expr: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[]?").or_else(|| rest.strip_prefix("[]")) {
            segs.push("*".into());
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").unwrap_or(r.len());
            segs.push(r[..end].to_string());
            rest = r.get(end + 2..).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                segs.push(r[..end].to_string());
            }
            rest = &r[end..];
        } else {
            break;
        }
    }
    segs
}

fn remove_path(v: &mut Value, segs: &[String]) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if first == "*" {
        if let Some(a) = v.as_array_mut() {
            for item in a {
                remove_path(item, rest);
            }
        }
        return;
    }
    match v {
        Value::Object(m) if rest.is_empty() => {
            m.remove(first);
        }
        Value::Object(m) => {
            if let Some(c) = m.get_mut(first) {
                remove_path(c, rest);
            }
        }
        Value::Array(a) => {
            if let Some(c) = first.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                if rest.is_empty() {
                    // Removing from the middle would shift the others; blank it instead.
                    *c = Value::Null;
                } else {
                    remove_path(c, rest);
                }
            }
        }
        _ => {}
    }
}

fn pointer_segments(p: &str) -> Vec<String> {
    p.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn rule_matches(rule: &IgnoreDifference, key: &ResourceKey) -> bool {
    rule.group == key.group
        && rule.kind == key.kind
        && (rule.name.is_empty() || rule.name == key.name)
        && (rule.namespace.is_empty() || rule.namespace == key.namespace)
}

/// Removes the ignored fields from `obj` (both sides of a comparison get this).
pub fn strip_ignored(obj: &mut Value, key: &ResourceKey, rules: &[IgnoreDifference]) {
    for r in rules.iter().filter(|r| rule_matches(r, key)) {
        for p in &r.json_pointers {
            remove_path(obj, &pointer_segments(p));
        }
        for q in &r.jq_paths {
            remove_path(obj, &jq_segments(q));
        }
    }
}

fn images_of(obj: &Value, out: &mut BTreeSet<String>) {
    for base in [
        "/spec/template/spec",
        "/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        for list in ["containers", "initContainers"] {
            let p = format!("{base}/{list}");
            for c in obj
                .pointer(&p)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(i) = c.get("image").and_then(Value::as_str) {
                    out.insert(i.to_string());
                }
            }
        }
    }
}

/// Whether `live` carries this app's tracking id for `key`.
pub fn tracked_by(live: &Value, app: &str, key: &ResourceKey) -> bool {
    let id = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(strings::TRACKING_ID))
        .and_then(Value::as_str);
    id == Some(tracking_id(app, key).as_str())
}

/// Compares prepared desired objects with the live cluster; `previous` are the keys of the last
/// comparison's `status.resources` (candidates for pruning).
pub async fn compare(
    live: &Live,
    app: &str,
    spec: &AppSpec,
    revision: String,
    desired: Vec<Value>,
    previous: &[ResourceKey],
) -> Comparison {
    let mut resources = Vec::new();
    let mut hooks = Vec::new();
    let mut images = BTreeSet::new();
    for obj in desired {
        if hook_type(&obj).is_some() {
            hooks.push(obj);
            continue;
        }
        let key = ResourceKey::of(&obj);
        let wave = sync_wave(&obj);
        let (current, error) = match live.get(&obj).await {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e)),
        };
        let mut synced = false;
        let mut error = error;
        if let Some(l) = &current {
            match live.apply(&obj, true).await {
                Ok(mut dry) => {
                    let mut l = l.clone();
                    strip_ignored(&mut l, &key, &spec.ignore_differences);
                    strip_ignored(&mut dry, &key, &spec.ignore_differences);
                    synced = !has_drifted(&l, &dry);
                }
                Err(e) => error = Some(e),
            }
            images_of(l, &mut images);
        }
        let health = match &current {
            Some(l) => resource_health(l),
            None => Some((ArgoHealth::Missing, String::new())),
        };
        resources.push(Managed {
            key,
            desired: Some(obj),
            live: current,
            synced,
            health,
            wave,
            requires_pruning: false,
            error,
        });
    }
    for old in previous {
        if resources.iter().any(|m| m.key.same(old)) {
            continue;
        }
        let Ok(Some(l)) = live.get(&old.stub()).await else {
            continue;
        };
        if !tracked_by(&l, app, old) {
            continue;
        }
        resources.push(Managed {
            key: old.clone(),
            desired: None,
            health: resource_health(&l),
            wave: sync_wave(&l),
            live: Some(l),
            synced: false,
            requires_pruning: true,
            error: None,
        });
    }
    let synced = resources.iter().all(|m| m.synced);
    let health = app_health(&resources);
    Comparison {
        revision,
        resources,
        hooks,
        synced,
        health,
        images: images.into_iter().collect(),
    }
}

/// The app's health: the worst of its existing managed resources; Missing when it should have
/// resources and none exists.
pub fn app_health(resources: &[Managed]) -> (ArgoHealth, String) {
    let mut h = ArgoHealth::Healthy;
    let mut message = String::new();
    let mut any_live = false;
    for m in resources {
        let Some(l) = &m.live else { continue };
        any_live = true;
        let ignored = l
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(strings::IGNORE_HEALTHCHECK))
            .and_then(Value::as_str)
            == Some("true");
        if ignored {
            continue;
        }
        if let Some((rh, msg)) = &m.health
            && worse(h, *rh) != h
        {
            h = *rh;
            message = msg.clone();
        }
    }
    if !any_live && resources.iter().any(|m| m.desired.is_some()) {
        return (ArgoHealth::Missing, String::new());
    }
    (h, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_ids_and_hooks() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop",
                         "annotations": {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-2"}}});
        let k = ResourceKey::of(&obj);
        assert_eq!(
            tracking_id("guestbook", &k),
            "guestbook:apps/Deployment:shop/web"
        );
        assert_eq!(k.kubectl_name(), "deployment.apps/web");
        assert_eq!(hook_type(&obj).as_deref(), Some("PreSync"));
        assert_eq!(sync_wave(&obj), -2);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        assert_eq!(tracking_id("a", &ResourceKey::of(&ns)), "a:/Namespace:/x");
    }

    #[test]
    fn ignore_differences_remove_pointers_and_jq_paths() {
        let key = ResourceKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            ..ResourceKey::default_for_tests()
        };
        let rules = vec![IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            jq_paths: vec![".spec.template.spec.containers[]?.image".into()],
            ..IgnoreDifference::default()
        }];
        let mut d = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        strip_ignored(&mut d, &key, &rules);
        assert_eq!(
            d,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}})
        );
    }

    impl ResourceKey {
        fn default_for_tests() -> ResourceKey {
            ResourceKey {
                group: String::new(),
                kind: String::new(),
                namespace: String::new(),
                name: String::new(),
                version: "v1".into(),
            }
        }
    }
}
