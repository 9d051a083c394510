//! One kube client per context (built lazily, shared by sessions and on-demand requests), and the
//! on-demand requests the console makes: full objects, their Events, and action patches.

use super::actions::{self, Action, ObjectTarget};
use super::error::{ClusterError, Failure};
use super::kubeconfig::Contexts;
use crate::model::kinds::{KINDS, KindInfo, Scope};
use crate::model::row::RowKey;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The field manager flotilla writes as.
pub const FIELD_MANAGER: &str = "flotilla";

/// Timeouts for every request a client makes outside long-running watches.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect timeout (short: a dead context must not hold anything up).
    pub connect: Duration,
    /// Whole-request timeout for discovery, gets, lists and patches.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(15),
        }
    }
}

struct Inner {
    contexts: Contexts,
    timeouts: Timeouts,
    clients: Mutex<HashMap<String, kube::Client>>,
    /// The version each session watches, per (context, kind).
    served: Mutex<HashMap<(String, &'static str), String>>,
}

/// The per-context client registry (cheap clone).
#[derive(Clone)]
pub struct Clients {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("contexts", &self.inner.contexts.names())
            .finish()
    }
}

/// The registry kind with this exact Kind name (what a [`RowKey`] carries).
pub fn kind_info(kind: &str) -> Result<&'static KindInfo, ClusterError> {
    KINDS
        .iter()
        .find(|k| k.kind == kind)
        .or_else(|| crate::model::lookup(kind))
        .ok_or_else(|| ClusterError::UnknownKind(kind.to_string()))
}

/// The kube ApiResource of `kind` at `version`.
pub fn api_resource(kind: &KindInfo, version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group, version, kind.kind),
        kind.plural,
    )
}

impl Clients {
    /// A registry over the merged kubeconfig, with default timeouts.
    pub fn new(contexts: Contexts) -> Clients {
        Self::with_timeouts(contexts, Timeouts::default())
    }

    /// A registry with explicit timeouts.
    pub fn with_timeouts(contexts: Contexts, timeouts: Timeouts) -> Clients {
        Clients {
            inner: Arc::new(Inner {
                contexts,
                timeouts,
                clients: Mutex::new(HashMap::new()),
                served: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The kubeconfig contexts.
    pub fn contexts(&self) -> &Contexts {
        &self.inner.contexts
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }

    /// The client of `context`, built on first use.
    pub async fn client(&self, context: &str) -> Result<kube::Client, ClusterError> {
        if let Some(c) = lock(&self.inner.clients).get(context) {
            return Ok(c.clone());
        }
        let err = |message: String| ClusterError::ClientConfig {
            context: context.to_string(),
            message,
        };
        if !self.inner.contexts.names().iter().any(|n| n == context) {
            return Err(ClusterError::UnknownContext {
                name: context.to_string(),
                known: self.inner.contexts.names().join(", "),
            });
        }
        let options = kube::config::KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(
            self.inner.contexts.kubeconfig().clone(),
            &options,
        )
        .await
        .map_err(|e| err(super::error::error_chain(&e)))?;
        config.connect_timeout = Some(self.inner.timeouts.connect);
        let client =
            kube::Client::try_from(config).map_err(|e| err(super::error::error_chain(&e)))?;
        // Another task may have raced us; either client works, keep the first.
        Ok(lock(&self.inner.clients)
            .entry(context.to_string())
            .or_insert(client)
            .clone())
    }

    /// The version the session of `context` watches for `kind`, once discovery has run.
    pub fn served_version(&self, context: &str, kind: &str) -> Option<String> {
        lock(&self.inner.served)
            .iter()
            .find(|((c, k), _)| c == context && *k == kind)
            .map(|(_, v)| v.clone())
    }

    /// Records what discovery found for `context` (replacing earlier results).
    pub(crate) fn set_served(&self, context: &str, kinds: &[(&'static KindInfo, String)]) {
        let mut served = lock(&self.inner.served);
        served.retain(|(c, _), _| c != context);
        for (info, version) in kinds {
            served.insert((context.to_string(), info.kind), version.clone());
        }
    }

    /// Versions to try for `kind` in `context`: the discovered one, else the registry's, newest first.
    fn versions_for(&self, context: &str, info: &'static KindInfo) -> Vec<String> {
        match self.served_version(context, info.kind) {
            Some(v) => vec![v],
            None => info.versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// Runs one request of `context` under the request timeout, naming `what` in errors.
    pub async fn timed<T, F>(&self, context: &str, what: &str, fut: F) -> Result<T, ClusterError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(self.inner.timeouts.request, fut).await {
            Err(_) => Err(ClusterError::Timeout {
                context: context.to_string(),
                what: what.to_string(),
                seconds: self.inner.timeouts.request.as_secs(),
            }),
            Ok(Err(e)) => Err(Failure::from_kube(&e).into_error(context, what.to_string())),
            Ok(Ok(v)) => Ok(v),
        }
    }

    fn api(
        client: kube::Client,
        info: &KindInfo,
        version: &str,
        namespace: &str,
    ) -> Api<DynamicObject> {
        let ar = api_resource(info, version);
        match info.scope {
            Scope::Namespaced if !namespace.is_empty() => {
                Api::namespaced_with(client, namespace, &ar)
            }
            _ => Api::all_with(client, &ar),
        }
    }

    /// Fetches the full object (for YAML, detail, tree and diff views), exactly as the server sends it.
    pub async fn fetch_object(
        &self,
        context: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ClusterError> {
        let info = kind_info(kind)?;
        let client = self.client(context).await?;
        let what = format!("get {} {namespace}/{name}", info.kind);
        for version in self.versions_for(context, info) {
            let ar = api_resource(info, &version);
            let url = match info.scope {
                Scope::Namespaced if !namespace.is_empty() => kube::core::Request::new(
                    <DynamicObject as kube::Resource>::url_path(&ar, Some(namespace)),
                ),
                _ => {
                    kube::core::Request::new(<DynamicObject as kube::Resource>::url_path(&ar, None))
                }
            };
            let req = url
                .get(name, &kube::api::GetParams::default())
                .map_err(|e| ClusterError::Api {
                    context: context.to_string(),
                    what: what.clone(),
                    code: 0,
                    message: e.to_string(),
                })?;
            match self
                .timed(context, &what, client.request::<Value>(req))
                .await
            {
                Ok(v) => return Ok(v),
                Err(ClusterError::Api { code: 404, .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::NotFound {
            context: context.to_string(),
            kind: info.kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// The core/v1 Events about one object, oldest first.
    pub async fn events_for(
        &self,
        context: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let client = self.client(context).await?;
        let mut selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            escape_field_value(kind),
            escape_field_value(name)
        );
        if !namespace.is_empty() {
            selector.push_str(&format!(
                ",involvedObject.namespace={}",
                escape_field_value(namespace)
            ));
        }
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events");
        let api: Api<DynamicObject> = if namespace.is_empty() {
            Api::all_with(client, &ar)
        } else {
            Api::namespaced_with(client, namespace, &ar)
        };
        let what = format!("list events of {kind} {namespace}/{name}");
        let list = self
            .timed(
                context,
                &what,
                api.list(&ListParams::default().fields(&selector)),
            )
            .await?;
        let mut events: Vec<Value> = list
            .items
            .into_iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect();
        events.sort_by_key(|e| event_time(e).unwrap_or_default());
        Ok(events)
    }

    /// Sends one merge patch.
    async fn patch(
        &self,
        context: &str,
        target: &ObjectTarget,
        body: &Value,
    ) -> Result<(), ClusterError> {
        let client = self.client(context).await?;
        let version = self
            .versions_for(context, target.kind)
            .into_iter()
            .next()
            .unwrap_or_else(|| target.kind.preferred_version().to_string());
        let api = Self::api(client, target.kind, &version, &target.namespace);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let what = format!("patch {target}");
        match self
            .timed(
                context,
                &what,
                api.patch(&target.name, &params, &Patch::Merge(body)),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ClusterError::Api { code: 404, .. }) => Err(ClusterError::NotFound {
                context: context.to_string(),
                kind: target.kind.kind.to_string(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object behind `key` (foreground propagation is left to the server's default).
    pub async fn delete_object(&self, key: &RowKey) -> Result<(), ClusterError> {
        let info = kind_info(key.kind)?;
        let client = self.client(&key.context).await?;
        let version = self
            .versions_for(&key.context, info)
            .into_iter()
            .next()
            .unwrap_or_else(|| info.preferred_version().to_string());
        let api = Self::api(client, info, &version, &key.namespace);
        let what = format!("delete {} {}/{}", info.kind, key.namespace, key.name);
        match self
            .timed(
                &key.context,
                &what,
                api.delete(&key.name, &kube::api::DeleteParams::default()),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ClusterError::Api { code: 404, .. }) => Err(ClusterError::NotFound {
                context: key.context.clone(),
                kind: info.kind.to_string(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs `action` on the object behind `key`: reads it, plans the patches ([`actions::plan`]) and
    /// sends them in order, re-reading and re-planning on a write conflict (up to 5 times).
    pub async fn apply_action(&self, key: &RowKey, action: &Action) -> Result<(), ClusterError> {
        self.apply_action_as(key, action, actions::DEFAULT_SYNC_USER)
            .await
    }

    /// [`Clients::apply_action`] recording `user` as the initiator of an Argo CD sync.
    pub async fn apply_action_as(
        &self,
        key: &RowKey,
        action: &Action,
        user: &str,
    ) -> Result<(), ClusterError> {
        if *action == Action::Delete {
            return self.delete_object(key).await;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let obj = self
                .fetch_object(&key.context, key.kind, &key.namespace, &key.name)
                .await?;
            let now = actions::request_token_now();
            let patches = actions::plan(action, &obj, &now, user)?;
            let mut conflict = None;
            for p in &patches {
                match self.patch(&key.context, &p.target, &p.merge_patch).await {
                    Ok(()) => {}
                    Err(e @ ClusterError::Api { code: 409, .. }) => {
                        conflict = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            match conflict {
                None => return Ok(()),
                Some(e) if attempt >= 5 => return Err(e),
                Some(_) => continue,
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned map is still consistent: every write is a single insert or retain.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Escapes a field-selector value (`\`, `,` and `=` are special).
fn escape_field_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// When an Event happened (unix seconds): lastTimestamp, eventTime, firstTimestamp or creation.
fn event_time(e: &Value) -> Option<i64> {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .filter_map(|k| e.get(*k).and_then(Value::as_str))
        .chain(
            e.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
        )
        .find_map(crate::model::conditions::parse_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_are_escaped() {
        assert_eq!(escape_field_value("a,b=c\\d"), "a\\,b\\=c\\\\d");
        assert_eq!(escape_field_value("plain-name"), "plain-name");
    }

    #[test]
    fn kind_info_accepts_registry_kinds_only() {
        assert_eq!(
            kind_info("Kustomization").unwrap().group,
            "kustomize.toolkit.fluxcd.io"
        );
        assert_eq!(kind_info("ks").unwrap().kind, "Kustomization");
        assert!(kind_info("ConfigMap").is_err());
    }

    #[test]
    fn event_time_prefers_last_timestamp_and_tolerates_junk() {
        let e = serde_json::json!({"lastTimestamp": "2026-01-01T00:00:10Z", "eventTime": "2026-01-01T00:00:00Z"});
        assert_eq!(
            event_time(&e),
            crate::model::conditions::parse_time("2026-01-01T00:00:10Z")
        );
        let e = serde_json::json!({"lastTimestamp": null, "eventTime": 5, "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(event_time(&e).is_some());
        assert_eq!(event_time(&serde_json::json!([])), None);
    }
}
