//! Runtime adapters: the three image kinds as [`Reconciler`]s. Each run calls the plain reconcile
//! function, writes the status it returns, records its events, and turns `requeue_after` into
//! [`Next`]. Register them with [`image_reconcilers`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::Value;

use super::{
    EventType, RunResult, TagStore, reconcile_image_policy, reconcile_image_repository,
    reconcile_image_update_automation,
};
use crate::model::kinds::{self, KindInfo};
use crate::model::selector::LabelSelector;
use crate::runtime::status_io::{EventNote, Events, ready_summary};
use crate::runtime::{self, Dependency, Next, ObjectKey, Outcome, Reconciler};

const GROUP: &str = "image.toolkit.fluxcd.io";

fn kind_info(kind: &str) -> &'static KindInfo {
    // The image kinds are in the static kind table; the fallback keeps this total.
    kinds::by_group_kind(GROUP, kind).unwrap_or(&kinds::KINDS[0])
}

/// Shared state of the image reconcilers of one cluster.
#[derive(Clone)]
struct Shared {
    client: kube::Client,
    store: TagStore,
    data_dir: PathBuf,
    events: Events,
}

/// Writes the status, records events, and maps the requeue.
async fn finish(
    shared: &Shared,
    kind: &'static KindInfo,
    obj: &Value,
    result: RunResult,
) -> Outcome {
    let summary = ready_summary(&result.status);
    if let Err(e) = runtime::write_status(&shared.client, kind, "v1", obj, &result.status).await {
        return Outcome::new(
            Next::After(std::time::Duration::from_secs(5)),
            format!("cannot write status: {e}"),
        );
    }
    let notes = result
        .events
        .iter()
        .map(|(t, reason, message)| match t {
            EventType::Normal => EventNote::normal(reason, message),
            EventType::Warning => EventNote::warning(reason, message),
        })
        .collect();
    shared.events.emit(obj, notes).await;
    let next = match result.requeue_after {
        Some(d) => Next::After(d),
        None => Next::Wait,
    };
    Outcome::new(next, summary)
}

/// ImageRepository: scans into the tag store; dependants see `lastScanResult.revision`.
pub struct ImageRepositoryKind(Shared);
/// ImagePolicy: depends on its ImageRepository.
pub struct ImagePolicyKind(Shared);
/// ImageUpdateAutomation: depends on its GitRepository and on the ImagePolicies its
/// `policySelector` selects (Flux's image-automation-controller watches both).
pub struct ImageUpdateAutomationKind(Shared);

impl Reconciler for ImageRepositoryKind {
    fn kind(&self) -> &'static KindInfo {
        kind_info("ImageRepository")
    }
    fn version(&self) -> &'static str {
        "v1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let shared = self.0.clone();
        Box::pin(async move {
            let result =
                reconcile_image_repository(&obj, &shared.client, &shared.store, Timestamp::now())
                    .await;
            finish(&shared, kind_info("ImageRepository"), &obj, result).await
        })
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        let store = self.0.store.clone();
        Box::pin(async move {
            let key = ObjectKey::of("ImageRepository", &obj);
            if let Err(e) = store.remove(&key.namespace, &key.name) {
                tracing::warn!("cannot forget the tags of {key}: {e}");
            }
        })
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        obj.pointer("/status/lastScanResult/revision")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

impl Reconciler for ImagePolicyKind {
    fn kind(&self) -> &'static KindInfo {
        kind_info("ImagePolicy")
    }
    fn version(&self) -> &'static str {
        "v1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let shared = self.0.clone();
        Box::pin(async move {
            let result =
                reconcile_image_policy(&obj, &shared.client, &shared.store, Timestamp::now()).await;
            finish(&shared, kind_info("ImagePolicy"), &obj, result).await
        })
    }
    fn finalize(&self, _obj: Value) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn depends_on(&self, obj: &Value) -> Vec<Dependency> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(name) = obj
            .pointer("/spec/imageRepositoryRef/name")
            .and_then(Value::as_str)
        else {
            return Vec::new();
        };
        let repo_ns = obj
            .pointer("/spec/imageRepositoryRef/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(ns);
        vec![ObjectKey::new("ImageRepository", repo_ns, name).into()]
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        obj.pointer("/status/latestRef").map(Value::to_string)
    }
}

impl Reconciler for ImageUpdateAutomationKind {
    fn kind(&self) -> &'static KindInfo {
        kind_info("ImageUpdateAutomation")
    }
    fn version(&self) -> &'static str {
        "v1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let shared = self.0.clone();
        Box::pin(async move {
            let result = reconcile_image_update_automation(
                &obj,
                &shared.client,
                &shared.data_dir,
                Timestamp::now(),
            )
            .await;
            finish(&shared, kind_info("ImageUpdateAutomation"), &obj, result).await
        })
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        let dir = self.0.data_dir.clone();
        Box::pin(async move {
            let key = ObjectKey::of("ImageUpdateAutomation", &obj);
            let work = dir
                .join("image-automation")
                .join(&key.namespace)
                .join(&key.name);
            // Best effort: the directory is only a fetch cache.
            let _ = tokio::fs::remove_dir_all(work).await;
        })
    }
    fn depends_on(&self, obj: &Value) -> Vec<Dependency> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut deps = Vec::new();
        if let Some(name) = obj.pointer("/spec/sourceRef/name").and_then(Value::as_str) {
            let source_ns = obj
                .pointer("/spec/sourceRef/namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(ns);
            deps.push(ObjectKey::new("GitRepository", source_ns, name).into());
        }
        if let Some(selector) = policy_selector(obj) {
            deps.push(Dependency::Selector {
                kind: "ImagePolicy",
                namespace: ns.to_string(),
                selector,
            });
        }
        deps
    }
}

/// The label selector of an automation's `spec.policySelector` (absent: every policy of its
/// namespace, as Flux); `None` when it is invalid (the run itself reports that).
fn policy_selector(obj: &Value) -> Option<LabelSelector> {
    let raw = obj.pointer("/spec/policySelector").unwrap_or(&Value::Null);
    let text = super::automation::label_selector_string(raw).ok()?;
    LabelSelector::parse(&text).ok()
}

/// The three image reconcilers of one cluster; tags under `dir/image-tags`, automation work
/// directories under `dir/image-automation`.
pub fn image_reconcilers(client: &kube::Client, dir: &Path) -> Vec<Arc<dyn Reconciler>> {
    let shared = Shared {
        client: client.clone(),
        store: TagStore::new(dir.join("image-tags")),
        data_dir: dir.to_path_buf(),
        events: Events::new(client.clone(), "image-reflector-controller"),
    };
    vec![
        Arc::new(ImageRepositoryKind(shared.clone())),
        Arc::new(ImagePolicyKind(shared.clone())),
        Arc::new(ImageUpdateAutomationKind(Shared {
            events: Events::new(client.clone(), "image-automation-controller"),
            ..shared
        })),
    ]
}
