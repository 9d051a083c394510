//! AppProject checks: source repositories, destinations, and the cluster/namespace resource
//! allow and deny lists (Argo's `IsSourcePermitted`, `IsDestinationPermitted`,
//! `IsGroupKindPermitted`; `!` negation and globs as in Argo).

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::spec::AppSpec;
use super::strings;

/// The parts of an AppProject's spec the controller enforces; `None` lists mean "allow all".
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Its name.
    pub name: String,
    /// The spec as written (`None` = the implicit permissive `default` project).
    pub spec: Option<Value>,
}

fn glob(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(value))
}

/// Argo's list match: any positive pattern matches and no `!pattern` matches.
fn list_permits(patterns: &[&str], value: &str) -> bool {
    let mut allowed = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, value) {
                return false;
            }
        } else if glob(p, value) {
            allowed = true;
        }
    }
    allowed
}

fn strs<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn gk_in(list: Option<&Value>, group: &str, kind: &str) -> bool {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            let g = e.get("group").and_then(Value::as_str).unwrap_or("");
            let k = e.get("kind").and_then(Value::as_str).unwrap_or("");
            glob(g, group) && glob(k, kind)
        })
}

impl Project {
    /// Reads project `name` from `namespace`; the missing `default` project is permissive (Argo
    /// creates it at install), any other missing project is an `InvalidSpecError`.
    pub async fn load(
        client: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Project, String> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        match api.get_opt(name).await {
            Ok(Some(p)) => Ok(Project {
                name: name.to_string(),
                spec: serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.get("spec").cloned()),
            }),
            Ok(None) | Err(_) if name == "default" => Ok(Project {
                name: name.to_string(),
                spec: None,
            }),
            Ok(None) => Err(strings::project_missing(name)),
            Err(e) => Err(format!("failed to read project {name}: {e}")),
        }
    }

    /// Source and destination checks (`InvalidSpecError` messages).
    pub fn check_app(&self, spec: &AppSpec) -> Result<(), String> {
        let Some(p) = &self.spec else { return Ok(()) };
        let repos = strs(p, "sourceRepos");
        if !list_permits(&repos, &spec.source.repo_url) {
            return Err(strings::source_not_permitted(
                &spec.source.repo_url,
                &self.name,
            ));
        }
        let ns = &spec.destination.namespace;
        let server = &spec.destination.server;
        let ok = p
            .get("destinations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|d| {
                let dn = d.get("namespace").and_then(Value::as_str).unwrap_or("");
                let ds = d.get("server").and_then(Value::as_str).unwrap_or("");
                let dname = d.get("name").and_then(Value::as_str).unwrap_or("");
                let server_ok = (!ds.is_empty() && glob(ds, server))
                    || (!dname.is_empty() && glob(dname, strings::IN_CLUSTER_NAME));
                server_ok && glob(dn, ns)
            });
        if !ok {
            return Err(strings::destination_not_permitted(server, ns, &self.name));
        }
        Ok(())
    }

    /// Whether a resource of `group`/`kind` (cluster-scoped when `namespaced` is false) may be
    /// managed: cluster-scoped kinds need the whitelist, namespaced ones pass unless denied.
    pub fn permits(&self, group: &str, kind: &str, namespaced: bool) -> bool {
        let Some(p) = &self.spec else { return true };
        if namespaced {
            let white = p.get("namespaceResourceWhitelist");
            if white.and_then(Value::as_array).is_some() && !gk_in(white, group, kind) {
                return false;
            }
            !gk_in(p.get("namespaceResourceBlacklist"), group, kind)
        } else {
            gk_in(p.get("clusterResourceWhitelist"), group, kind)
                && !gk_in(p.get("clusterResourceBlacklist"), group, kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_kinds() {
        assert!(list_permits(&["*"], "https://x"));
        assert!(!list_permits(&["*", "!https://bad*"], "https://bad/repo"));
        let p = Project {
            name: "p".into(),
            spec: Some(json!({
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
                "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}]})),
        };
        assert!(p.permits("", "Namespace", false));
        assert!(!p.permits("rbac.authorization.k8s.io", "ClusterRole", false));
        assert!(!p.permits("", "Secret", true));
        assert!(p.permits("apps", "Deployment", true));
        assert!(Project::default().permits("", "Anything", false));
    }
}
