//! The three image kinds as [`Controller`]s: the steps of [`super::repository`],
//! [`super::policy_reconcile`] and [`super::automation`] over the runtime's [`Run`]; the runtime
//! writes the status, records the events and schedules. Register them with [`image_reconcilers`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::TagStore;
use super::automation::automate;
use super::policy_reconcile::{PolicyRunSpec, decide, parse_policy};
use super::repository::{RepositorySpec, parse_repository, scan};
use crate::model::selector::LabelSelector;
use crate::runtime::{
    Adapter, Controller, Dependency, Failure, ObjectKey, Reconciler, Run, Success,
};

const GROUP: &str = "image.toolkit.fluxcd.io";

/// ImageRepository: scans into the tag store; dependants see `lastScanResult.revision`.
pub struct ImageRepositoryController {
    client: kube::Client,
    store: TagStore,
}

/// ImagePolicy: depends on its ImageRepository.
pub struct ImagePolicyController {
    client: kube::Client,
    store: TagStore,
}

/// ImageUpdateAutomation: depends on its GitRepository and on the ImagePolicies its
/// `policySelector` selects (Flux's image-automation-controller watches both).
pub struct ImageUpdateAutomationController {
    client: kube::Client,
    data_dir: PathBuf,
    /// Whether `file://` GitRepository sources may be written to (`--allow-file-urls`).
    allow_file_urls: bool,
}

impl Controller for ImageRepositoryController {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "ImageRepository";
    const COMPONENT: &'static str = "image-reflector-controller";
    type Spec = RepositorySpec;

    fn parse(&self, obj: &Value) -> Result<RepositorySpec, Failure> {
        parse_repository(obj)
    }
    async fn reconcile(&self, run: &mut Run, spec: RepositorySpec) -> Result<Success, Failure> {
        scan(run, spec, &self.client, &self.store).await
    }
    async fn finalize(&self, obj: Value) {
        let key = ObjectKey::of("ImageRepository", &obj);
        if let Err(e) = self.store.remove(&key.namespace, &key.name) {
            tracing::warn!("cannot forget the tags of {key}: {e}");
        }
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        obj.pointer("/status/lastScanResult/revision")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

impl Controller for ImagePolicyController {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "ImagePolicy";
    const COMPONENT: &'static str = "image-reflector-controller";
    type Spec = PolicyRunSpec;

    fn parse(&self, obj: &Value) -> Result<PolicyRunSpec, Failure> {
        parse_policy(obj)
    }
    async fn reconcile(&self, run: &mut Run, spec: PolicyRunSpec) -> Result<Success, Failure> {
        decide(run, spec, &self.client, &self.store).await
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

impl Controller for ImageUpdateAutomationController {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "ImageUpdateAutomation";
    const COMPONENT: &'static str = "image-automation-controller";
    type Spec = ();

    fn parse(&self, _obj: &Value) -> Result<(), Failure> {
        // The spec is read by the steps: its errors stall the object only after the policies
        // are listed, as image-automation-controller does.
        Ok(())
    }
    async fn reconcile(&self, run: &mut Run, _spec: ()) -> Result<Success, Failure> {
        automate(run, &self.client, &self.data_dir, self.allow_file_urls).await
    }
    async fn finalize(&self, obj: Value) {
        let key = ObjectKey::of("ImageUpdateAutomation", &obj);
        let work = self
            .data_dir
            .join("image-automation")
            .join(&key.namespace)
            .join(&key.name);
        // Best effort: the directory is only a fetch cache.
        let _ = tokio::fs::remove_dir_all(work).await;
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
pub fn try_image_reconcilers(
    client: &kube::Client,
    dir: &Path,
    allow_file_urls: bool,
) -> Result<Vec<Arc<dyn Reconciler>>, crate::runtime::UnknownKind> {
    let store = TagStore::new(dir.join("image-tags"));
    let repository = ImageRepositoryController {
        client: client.clone(),
        store: store.clone(),
    };
    let policy = ImagePolicyController {
        client: client.clone(),
        store,
    };
    let automation = ImageUpdateAutomationController {
        client: client.clone(),
        data_dir: dir.to_path_buf(),
        allow_file_urls,
    };
    Ok(vec![
        Arc::new(Adapter::new(client.clone(), Arc::new(repository))?),
        Arc::new(Adapter::new(client.clone(), Arc::new(policy))?),
        Arc::new(Adapter::new(client.clone(), Arc::new(automation))?),
    ])
}

/// [`try_image_reconcilers`]; none when a kind is missing from the registry (logged).
pub fn image_reconcilers(
    client: &kube::Client,
    dir: &Path,
    allow_file_urls: bool,
) -> Vec<Arc<dyn Reconciler>> {
    try_image_reconcilers(client, dir, allow_file_urls).unwrap_or_else(|e| {
        tracing::error!(error = %e, "image reconcilers not started");
        Vec::new()
    })
}
