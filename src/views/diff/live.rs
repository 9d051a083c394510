//! Reading live objects and server-side-apply dry runs of desired ones, for any kind: kinds are
//! resolved through discovery once per (apiVersion, kind) and cached. Used by the diff, tree and
//! trace views.

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::tree::ObjectRef;

/// What failed while reading from or dry-running against a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// Discovery could not answer (other than "not served").
    #[error("discovery of {api_version} {kind} failed: {message}")]
    Discovery {
        /// The requested apiVersion.
        api_version: String,
        /// The requested kind.
        kind: String,
        /// Why.
        message: String,
    },
    /// The cluster does not serve this kind.
    #[error("no matches for kind \"{kind}\" in version \"{api_version}\"")]
    UnknownKind {
        /// The requested apiVersion.
        api_version: String,
        /// The requested kind.
        kind: String,
    },
    /// A request about one object failed.
    #[error("{object} {action} failed: {message}")]
    Request {
        /// `<Kind>/<ns>/<name>`.
        object: String,
        /// `get`, `list`, `dry-run`.
        action: &'static str,
        /// HTTP status, 0 when the server did not answer.
        code: u16,
        /// The server's (or transport's) message.
        message: String,
    },
    /// The object cannot be addressed (no kind, name or apiVersion).
    #[error("{object}: invalid object: {reason}")]
    InvalidObject {
        /// The object as far as it could be named.
        object: String,
        /// What is missing.
        reason: String,
    },
}

impl LiveError {
    /// Whether the server answered 404 (e.g. a dry run into a namespace that does not exist yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self, LiveError::Request { code: 404, .. })
    }
}

#[derive(Clone)]
struct Resolved {
    resource: ApiResource,
    namespaced: bool,
}

/// A cluster reader with a per-kind discovery cache (cheap to clone).
#[derive(Clone)]
pub struct LiveClient {
    client: kube::Client,
    resolved: Arc<Mutex<HashMap<(String, String), Resolved>>>,
}

fn request_error(object: &str, action: &'static str, e: kube::Error) -> LiveError {
    let (code, message) = match &e {
        kube::Error::Api(s) => (s.code, s.message.clone()),
        other => (0, other.to_string()),
    };
    LiveError::Request {
        object: object.to_string(),
        action,
        code,
        message,
    }
}

impl LiveClient {
    /// A reader over `client`.
    pub fn new(client: kube::Client) -> LiveClient {
        LiveClient {
            client,
            resolved: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    async fn resolve(&self, api_version: &str, kind: &str) -> Result<Resolved, LiveError> {
        let key = (api_version.to_string(), kind.to_string());
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        if let Some(r) = self
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(r.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let unknown = || LiveError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        };
        let (resource, caps) = match discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => found,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(unknown()),
            Err(kube::Error::Discovery(_)) => return Err(unknown()),
            Err(e) => {
                return Err(LiveError::Discovery {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    message: e.to_string(),
                });
            }
        };
        let r = Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, r.clone());
        Ok(r)
    }

    fn api(&self, r: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if r.namespaced && !namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), namespace, &r.resource)
        } else {
            Api::all_with(self.client.clone(), &r.resource)
        }
    }

    /// Reads one object; `None` when it (or its kind) does not exist.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, LiveError> {
        let shown = object.display();
        if object.kind.is_empty() || object.name.is_empty() || object.version.is_empty() {
            return Err(LiveError::InvalidObject {
                object: shown,
                reason: "kind, name and version are required".into(),
            });
        }
        let r = match self.resolve(&object.api_version(), &object.kind).await {
            Ok(r) => r,
            Err(LiveError::UnknownKind { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.api(&r, &object.namespace).get_opt(&object.name).await {
            Ok(o) => Ok(o.and_then(|o| serde_json::to_value(o).ok())),
            Err(e) => Err(request_error(&shown, "get", e)),
        }
    }

    /// Lists the objects of a kind in one namespace, or in all namespaces when `namespace` is empty.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, LiveError> {
        let r = self.resolve(api_version, kind).await?;
        let list = self
            .api(&r, namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| request_error(&format!("{kind} list"), "list", e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| {
                let mut v = serde_json::to_value(o).ok()?;
                // List items carry no apiVersion/kind of their own in the typed round trip.
                if let Some(m) = v.as_object_mut() {
                    m.insert("apiVersion".into(), Value::String(api_version.to_string()));
                    m.insert("kind".into(), Value::String(kind.to_string()));
                }
                Some(v)
            })
            .collect())
    }

    /// Server-side apply dry run of `desired` as `field_manager` with force: what the object would
    /// look like after the apply (creating it if absent), nothing written.
    pub async fn dry_run_apply(
        &self,
        desired: &Value,
        field_manager: &str,
    ) -> Result<Value, LiveError> {
        let r = ObjectRef::of(desired);
        let shown = r.display();
        let api_version = desired
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if r.kind.is_empty() || r.name.is_empty() || api_version.is_empty() {
            return Err(LiveError::InvalidObject {
                object: shown,
                reason: "apiVersion, kind and metadata.name are required".into(),
            });
        }
        let resolved = self.resolve(api_version, &r.kind).await?;
        let params = PatchParams::apply(field_manager).force().dry_run();
        let out = self
            .api(&resolved, &r.namespace)
            .patch(&r.name, &params, &Patch::Apply(desired))
            .await
            .map_err(|e| request_error(&shown, "dry-run", e))?;
        serde_json::to_value(out).map_err(|e| LiveError::InvalidObject {
            object: shown,
            reason: format!("dry-run answer is not an object: {e}"),
        })
    }

    /// Resolves a kind as a user types it (`deployment`, `deploy`, `Deployment`,
    /// `deployments.apps`) by full discovery; `(apiVersion, kind, namespaced)`.
    pub async fn resolve_user_kind(&self, name: &str) -> Result<(String, String, bool), LiveError> {
        let wanted = name.to_ascii_lowercase();
        let (wanted, group_hint) = match wanted.split_once('.') {
            Some((n, g)) => (n.to_string(), Some(g.to_string())),
            None => (wanted, None),
        };
        let wanted = short_name(&wanted).unwrap_or(&wanted).to_string();
        let found = discovery::Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| LiveError::Discovery {
                api_version: String::new(),
                kind: name.to_string(),
                message: e.to_string(),
            })?;
        for group in found.groups() {
            if group_hint.as_deref().is_some_and(|g| g != group.name()) {
                continue;
            }
            for (ar, caps) in group.recommended_resources() {
                let kind = ar.kind.to_ascii_lowercase();
                if kind == wanted || ar.plural == wanted {
                    return Ok((ar.api_version, ar.kind, caps.scope == Scope::Namespaced));
                }
            }
        }
        Err(LiveError::UnknownKind {
            api_version: String::new(),
            kind: name.to_string(),
        })
    }
}

/// kubectl's short names of the common built-in kinds, as singular lowercase kinds.
fn short_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "deploy" => "deployment",
        "svc" => "service",
        "cm" => "configmap",
        "sts" => "statefulset",
        "ds" => "daemonset",
        "rs" => "replicaset",
        "ns" => "namespace",
        "sa" => "serviceaccount",
        "ing" => "ingress",
        "pvc" => "persistentvolumeclaim",
        "po" => "pod",
        "cj" => "cronjob",
        "hpa" => "horizontalpodautoscaler",
        "pdb" => "poddisruptionbudget",
        "ks" => "kustomization",
        "gitrepo" => "gitrepository",
        "hr" => "helmrelease",
        "app" => "application",
        _ => return None,
    })
}
