//! The cluster side of an Application: discovery (cached per kind), reads, server-side dry-runs
//! and applies with Argo's field manager, deletes.

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PropagationPolicy,
};
use kube::discovery::Scope;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

use super::strings::FIELD_MANAGER;

/// Where a kind lives on the server.
#[derive(Debug, Clone)]
pub struct Kind {
    /// The resource.
    pub resource: ApiResource,
    /// Namespaced (true) or cluster-scoped.
    pub namespaced: bool,
}

/// A client plus a discovery cache.
pub struct Live {
    client: kube::Client,
    kinds: Mutex<HashMap<(String, String), Kind>>,
}

/// `(group, version)` of an apiVersion.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

fn str_at<'a>(obj: &'a Value, p: &str) -> &'a str {
    obj.pointer(p).and_then(Value::as_str).unwrap_or("")
}

impl Live {
    /// Over `client`.
    pub fn new(client: kube::Client) -> Live {
        Live {
            client,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Resolves a kind (cached); the error is the server's.
    pub async fn kind(&self, api_version: &str, kind: &str) -> Result<Kind, String> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(k) = self
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(k.clone());
        }
        let (group, version) = split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|_| {
                format!("the server could not find the requested resource: no matches for kind \"{kind}\" in version \"{api_version}\"")
            })?;
        let k = Kind {
            resource,
            namespaced: matches!(caps.scope, Scope::Namespaced),
        };
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, k.clone());
        Ok(k)
    }

    fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        }
    }

    async fn api_of(&self, obj: &Value) -> Result<(Api<DynamicObject>, String), String> {
        let kind = self
            .kind(str_at(obj, "/apiVersion"), str_at(obj, "/kind"))
            .await?;
        let name = str_at(obj, "/metadata/name").to_string();
        Ok((self.api(&kind, str_at(obj, "/metadata/namespace")), name))
    }

    /// Reads the live counterpart of `obj` (None when absent).
    pub async fn get(&self, obj: &Value) -> Result<Option<Value>, String> {
        let (api, name) = self.api_of(obj).await?;
        api.get_opt(&name)
            .await
            .map(|o| o.and_then(|o| serde_json::to_value(o).ok()))
            .map_err(|e| e.to_string())
    }

    /// Server-side apply (forced), optionally as a dry run; returns the server's answer.
    pub async fn apply(&self, obj: &Value, dry_run: bool) -> Result<Value, String> {
        let (api, name) = self.api_of(obj).await?;
        let mut pp = PatchParams::apply(FIELD_MANAGER).force();
        if dry_run {
            pp = pp.dry_run();
        }
        api.patch(&name, &pp, &Patch::Apply(obj))
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            })
            .and_then(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
    }

    /// Deletes (background propagation); absent counts as deleted.
    pub async fn delete(&self, obj: &Value) -> Result<(), String> {
        let (api, name) = self.api_of(obj).await?;
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
