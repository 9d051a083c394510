//! Drift detection for a deployed release: each object of the release manifest is dry-run applied
//! (server-side, as helm-controller) and compared with the live object; `driftDetection.ignore`
//! rules drop JSON pointers from both sides first.

use super::actions::FIELD_MANAGER;
use super::spec::IgnoreRule;
use crate::apply::has_drifted;
use crate::apply::inventory::{ObjectRef, split_api_version};
use crate::apply::resources::ResourceCache;
use crate::runtime::rest;
use http::Method;
use serde_json::Value;

/// One drifted object.
#[derive(Debug, Clone)]
pub struct Drift {
    /// The object as the release wants it.
    pub desired: Value,
    /// `Kind/namespace/name`.
    pub object: String,
    /// Whether the object is gone from the cluster.
    pub removed: bool,
}

impl Drift {
    /// The line in Flux's drift messages.
    pub fn line(&self) -> String {
        if self.removed {
            format!("{} removed", self.object)
        } else {
            format!("{} changed", self.object)
        }
    }
}

fn rule_matches(rule: &IgnoreRule, obj: &Value) -> bool {
    let Some(t) = &rule.target else {
        return true;
    };
    let r = ObjectRef::of(obj);
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = split_api_version(api_version);
    let field = |k: &str| t.get(k).and_then(Value::as_str);
    field("kind").is_none_or(|k| k == r.kind)
        && field("name").is_none_or(|n| n == r.name)
        && field("namespace").is_none_or(|n| n == r.namespace)
        && field("group").is_none_or(|g| g == group)
        && field("version").is_none_or(|v| v == version)
}

/// Removes the value at a JSON pointer (RFC 6901), if present.
fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

fn ignored(rules: &[IgnoreRule], obj: &Value, mut v: Value) -> Value {
    for rule in rules.iter().filter(|r| rule_matches(r, obj)) {
        for p in &rule.paths {
            remove_pointer(&mut v, p);
        }
    }
    v
}

/// The objects of `desired` whose live state differs from what applying them would give.
/// Objects that cannot be read or dry-run are skipped (drift is reported, never guessed).
pub async fn drifted(client: &kube::Client, desired: &[Value], rules: &[IgnoreRule]) -> Vec<Drift> {
    let cache = ResourceCache::default();
    let mut out = Vec::new();
    for obj in desired {
        let r = ObjectRef::of(obj);
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let Ok(res) = cache.resolve(client, api_version, &r.kind).await else {
            continue;
        };
        let path = res.object_path(&r.namespace, &r.name);
        let live = match rest::send(client, Method::GET, &path, None, Vec::new()).await {
            Ok(l) => l,
            Err(e) if rest::is_not_found(&e) => {
                out.push(Drift {
                    desired: obj.clone(),
                    object: r.display(),
                    removed: true,
                });
                continue;
            }
            Err(_) => continue,
        };
        let url = format!(
            "{path}{}",
            rest::query(&[
                ("fieldManager", FIELD_MANAGER),
                ("force", "true"),
                ("dryRun", "All")
            ])
        );
        let Ok(dry) = rest::send(
            client,
            Method::PATCH,
            &url,
            Some(rest::APPLY_PATCH),
            obj.to_string().into_bytes(),
        )
        .await
        else {
            continue;
        };
        let (live, dry) = (ignored(rules, obj, live), ignored(rules, obj, dry));
        if has_drifted(&live, &dry) {
            out.push(Drift {
                desired: obj.clone(),
                object: r.display(),
                removed: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignore_rules_drop_pointers_of_matching_targets() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "a"}, "spec": {"replicas": 3, "x": 1}});
        let rules = vec![IgnoreRule {
            paths: vec!["/spec/replicas".into()],
            target: Some(json!({"kind": "Deployment"}).as_object().cloned().unwrap()),
        }];
        let v = ignored(&rules, &obj, obj.clone());
        assert!(v.pointer("/spec/replicas").is_none());
        assert_eq!(v["spec"]["x"], 1);
        let rules = vec![IgnoreRule {
            paths: vec!["/spec/replicas".into()],
            target: Some(json!({"kind": "StatefulSet"}).as_object().cloned().unwrap()),
        }];
        assert_eq!(ignored(&rules, &obj, obj.clone()), obj);
    }
}
