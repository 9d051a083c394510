//! Resolving `apiVersion` + `kind` to an API resource (plural, scope) through discovery, cached per
//! group-version and refreshed on a miss, so a CRD applied in an early stage resolves in a later one.

use http::Method;
use kube::Client;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ApplyError;
use super::inventory::split_api_version;
use crate::runtime::rest;

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `group/version` or `version` for the core group.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl Resource {
    /// The URL of the collection (`namespace` ignored for cluster-scoped resources).
    pub fn collection_path(&self, namespace: &str) -> String {
        let (group, version) = split_api_version(&self.api_version);
        let base = if group.is_empty() {
            format!("/api/{}", rest::escape(version))
        } else {
            format!("/apis/{}/{}", rest::escape(group), rest::escape(version))
        };
        if self.namespaced {
            format!(
                "{base}/namespaces/{}/{}",
                rest::escape(namespace),
                rest::escape(&self.plural)
            )
        } else {
            format!("{base}/{}", rest::escape(&self.plural))
        }
    }

    /// The URL of one object.
    pub fn object_path(&self, namespace: &str, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), rest::escape(name))
    }
}

/// Checks an `apiVersion` is `version` or `group/version` with non-empty, plain parts.
pub fn check_api_version(api_version: &str) -> Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    let parts: Vec<&str> = api_version.split('/').collect();
    let valid = match parts.as_slice() {
        [v] => ok_part(v),
        [g, v] => ok_part(g) && ok_part(v),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(format!("apiVersion \"{api_version}\" is not group/version"))
    }
}

/// Discovery results per group-version.
#[derive(Default)]
pub struct ResourceCache {
    lists: Mutex<HashMap<String, Arc<Vec<Resource>>>>,
}

impl ResourceCache {
    fn cached(&self, api_version: &str) -> Option<Arc<Vec<Resource>>> {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        let lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        lists.get(api_version).cloned()
    }

    fn store(&self, api_version: &str, list: Arc<Vec<Resource>>) {
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        lists.insert(api_version.to_string(), list);
    }

    /// Resolves a kind, asking the server again when the cache does not know it.
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resource, ApplyError> {
        check_api_version(api_version).map_err(|reason| ApplyError::InvalidObject {
            object: format!("{kind} {api_version}"),
            reason,
        })?;
        let find = |list: &[Resource]| list.iter().find(|r| r.kind == kind).cloned();
        if let Some(found) = self.cached(api_version).and_then(|l| find(&l)) {
            return Ok(found);
        }
        let list = Arc::new(fetch(client, api_version).await?);
        self.store(api_version, list.clone());
        find(&list).ok_or_else(|| ApplyError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
    }
}

/// Reads the resource list of one group-version; a 404 means nothing is served there.
async fn fetch(client: &Client, api_version: &str) -> Result<Vec<Resource>, ApplyError> {
    let (group, version) = split_api_version(api_version);
    let path = if group.is_empty() {
        format!("/api/{}", rest::escape(version))
    } else {
        format!("/apis/{}/{}", rest::escape(group), rest::escape(version))
    };
    match rest::send(client, Method::GET, &path, None, Vec::new()).await {
        Ok(list) => Ok(parse_resource_list(api_version, &list)),
        Err(e) if rest::is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(ApplyError::Discovery {
            api_version: api_version.to_string(),
            message: e.to_string(),
        }),
    }
}

/// The main resources (no subresources) of an `APIResourceList`; malformed entries are skipped.
pub fn parse_resource_list(api_version: &str, list: &Value) -> Vec<Resource> {
    let Some(items) = list.get("resources").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            let kind = r.get("kind")?.as_str()?;
            if plural.is_empty() || plural.contains('/') || kind.is_empty() {
                return None;
            }
            Some(Resource {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                namespaced: r
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_follow_the_kube_api_layout() {
        let cm = Resource {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
        };
        assert_eq!(
            cm.object_path("apps", "a b"),
            "/api/v1/namespaces/apps/configmaps/a%20b"
        );
        let crd = Resource {
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
            namespaced: false,
        };
        assert_eq!(
            crd.object_path("ignored", "w.example.com"),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/w.example.com"
        );
    }

    #[test]
    fn api_versions_are_checked() {
        for ok in ["v1", "apps/v1", "example.com/v1beta1"] {
            assert!(check_api_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/v1", "apps/", "a/b/c", "apps/v1?x", "ap ps/v1"] {
            assert!(check_api_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_lists_skip_subresources_and_junk() {
        let list = json!({"resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": true},
            {"name": "deployments/status", "kind": "Deployment", "namespaced": true},
            {"name": 3, "kind": "X"},
            {"kind": "Y"},
            "junk",
        ]});
        let parsed = parse_resource_list("apps/v1", &list);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].plural, "deployments");
        assert!(parsed[0].namespaced);
        assert!(parse_resource_list("v1", &json!(null)).is_empty());
        assert!(parse_resource_list("v1", &json!({"resources": {}})).is_empty());
    }
}
