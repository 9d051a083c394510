//! The fetchers behind the views (health tree, dependsOn chains, trace, diff): one async function
//! per view that reads what it needs from one cluster and returns the model value. The CLI
//! commands (`flotilla tree`, `trace`, `diff`) and the console call the same functions. It sits above
//! `cluster`, `reconcile` and `diff` (it builds desired state and diffs) and below `tui` and `cli`.

pub mod diff;
pub mod helm_release;
pub mod images;

use futures::stream::{self, StreamExt};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::cluster::commits;
use crate::controllers::kustomization::desired;
use crate::controllers::kustomization::spec::parse_kustomization;
use crate::controllers::source::artifact::extract_tar_gz;
use crate::controllers::source::{Artifact, SourceStorage, local_git_histories};
use crate::model::depends::{self, DependsOnView};
use crate::model::trace::{self, Trace};
use crate::model::tree::{self, HealthTree, ObjectIndex, ObjectRef};
use diff::{DiffReport, live::LiveClient};

/// Requests in flight at once while fetching a tree's objects.
const FETCH_CONCURRENCY: usize = 16;

/// Largest artifact downloaded or unpacked for a diff (bytes).
const ARTIFACT_LIMIT: u64 = 512 * 1024 * 1024;

/// Kinds listed by owner label to find the objects a HelmRelease installed (no inventory exists).
const HELM_RELEASE_KINDS: &[(&str, &str, &str, &str)] = &[
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
];

/// Why a view could not be built; every message names the object.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The object asked about does not exist.
    #[error("{object} not found")]
    NotFound {
        /// `Kind/ns/name`.
        object: String,
    },
    /// Reading from the cluster failed.
    #[error("{object}: {message}")]
    Read {
        /// `Kind/ns/name` (or `Kind list`).
        object: String,
        /// The client's error.
        message: String,
    },
    /// The view does not apply to this kind.
    #[error("{view} is not available for {object} (only {supported})")]
    Unsupported {
        /// The view's name.
        view: &'static str,
        /// `Kind/ns/name`.
        object: String,
        /// The kinds it supports.
        supported: &'static str,
    },
    /// The desired state of a diff could not be obtained or built.
    #[error("{object}: {message}")]
    Desired {
        /// `Kind/ns/name`.
        object: String,
        /// What failed.
        message: String,
    },
}

fn read_error(object: &ObjectRef, e: impl std::fmt::Display) -> ViewError {
    ViewError::Read {
        object: object.display(),
        message: e.to_string(),
    }
}

/// The identity of a GitOps object by its registry kind (`Kustomization`, `ks`, `hr`…), at
/// `version` when given, else the registry's preferred version.
pub fn gitops_ref(
    kind: &str,
    namespace: &str,
    name: &str,
    version: Option<&str>,
) -> Result<ObjectRef, ViewError> {
    let info = crate::model::lookup(kind).ok_or_else(|| ViewError::Read {
        object: format!("{kind}/{namespace}/{name}"),
        message: format!("unknown kind {kind}"),
    })?;
    Ok(ObjectRef {
        group: info.group.to_string(),
        version: version.unwrap_or(info.preferred_version()).to_string(),
        kind: info.kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// Reads one object or fails with [`ViewError::NotFound`].
pub async fn must_get(live: &LiveClient, r: &ObjectRef) -> Result<Value, ViewError> {
    live.get(r)
        .await
        .map_err(|e| read_error(r, e))?
        .ok_or_else(|| ViewError::NotFound {
            object: r.display(),
        })
}

/// Fetches the given objects (bounded concurrency) into `index`; returns one warning per read
/// failure (the object is left out and shows as NotFound).
pub async fn fetch_into(
    live: &LiveClient,
    refs: Vec<ObjectRef>,
    index: &mut ObjectIndex,
) -> Vec<String> {
    let results: Vec<_> = stream::iter(refs)
        .map(|r| async move {
            let got = live.get(&r).await;
            (r, got)
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut warnings = Vec::new();
    for (r, got) in results {
        match got {
            Ok(Some(obj)) => index.insert(obj),
            Ok(None) => {}
            Err(e) => warnings.push(format!("{}: {e}", r.display())),
        }
    }
    warnings
}

/// Fetches everything the tree of `ks` needs (its source, its inventory, nested Kustomizations'
/// inventories, level by level); returns the objects and the read failures.
pub async fn fetch_kustomization_objects(
    live: &LiveClient,
    ks: &Value,
) -> (ObjectIndex, Vec<String>) {
    let mut index = ObjectIndex::new();
    let mut warnings = Vec::new();
    let mut asked: HashSet<ObjectRef> = HashSet::new();
    loop {
        let todo: Vec<ObjectRef> = tree::kustomization_refs(ks, &index)
            .into_iter()
            .filter(|r| asked.insert(r.clone()))
            .collect();
        if todo.is_empty() {
            return (index, warnings);
        }
        warnings.extend(fetch_into(live, todo, &mut index).await);
    }
}

/// A built view with the non-fatal read failures met on the way.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The view.
    pub value: T,
    /// Objects that could not be read (shown as missing).
    pub warnings: Vec<String>,
}

/// Where local copies of sources may be: the context (names the bundled reconciler's per-cluster
/// directory) and the reconciler's data directory, when known.
#[derive(Debug, Clone, Default)]
pub struct LocalData {
    /// The kubeconfig context.
    pub context: String,
    /// The controller's data directory.
    pub data_dir: Option<PathBuf>,
}

/// The health tree of a Kustomization; the source node names its commit when a local copy of the
/// repository has it (see [`crate::cluster::commits`]).
pub async fn kustomization_tree(
    live: &LiveClient,
    ks_ref: &ObjectRef,
    local: &LocalData,
) -> Result<Fetched<HealthTree>, ViewError> {
    let ks = must_get(live, ks_ref).await?;
    let (index, warnings) = fetch_kustomization_objects(live, &ks).await;
    let source = tree::source_of(&ks).and_then(|r| index.get(&r).cloned());
    let mut value = tree::kustomization_tree(&ks, source.as_ref(), &index);
    if let Some(src) = source
        && let Some(commit) = source_commit(src, local.clone()).await
    {
        value.set_source_commit(&commit, crate::model::time::now_unix());
    }
    Ok(Fetched { value, warnings })
}

/// The commit of a source's artifact revision, read from a local repository (blocking I/O off the
/// async workers).
async fn source_commit(source: Value, local: LocalData) -> Option<tree::CommitInfo> {
    tokio::task::spawn_blocking(move || {
        let revision = source
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)?;
        let id = commits::revision_commit(revision)?;
        let repos = local_repositories(&source, &local.context, local.data_dir.as_deref());
        commits::commit_info(&repos, id)
    })
    .await
    .ok()
    .flatten()
}

/// Where a copy of a GitRepository's history may be on this machine: its `file://` remote, and the
/// fetch cache the bundled reconciler keeps for it when it runs here with `data_dir`.
pub fn local_repositories(source: &Value, context: &str, data_dir: Option<&Path>) -> Vec<PathBuf> {
    let text = |p: &str| source.pointer(p).and_then(Value::as_str);
    if text("/kind") != Some("GitRepository") {
        return Vec::new();
    }
    let (ns, name) = (text("/metadata/namespace"), text("/metadata/name"));
    // The fetch cache is per object: without a namespace and name there is none to look in.
    let storage = data_dir
        .filter(|_| ns.is_some() && name.is_some())
        .map(|d| SourceStorage::new(d, context));
    local_git_histories(
        storage.as_ref(),
        ns.unwrap_or(""),
        name.unwrap_or(""),
        text("/spec/url").unwrap_or(""),
    )
}

/// The health tree of an Argo CD Application; live objects are read from the same cluster for
/// resources whose health the Application does not store.
pub async fn application_tree(
    live: &LiveClient,
    app_ref: &ObjectRef,
) -> Result<Fetched<HealthTree>, ViewError> {
    let app = must_get(live, app_ref).await?;
    let wanted: Vec<ObjectRef> = tree::application_resources(&app)
        .into_iter()
        .filter(|r| r.pointer("/health/status").is_none())
        .map(tree::argo_resource_ref)
        .filter(|r| !r.version.is_empty() && !r.name.is_empty())
        .collect();
    let mut index = ObjectIndex::new();
    let warnings = fetch_into(live, wanted, &mut index).await;
    Ok(Fetched {
        value: tree::application_tree(&app, &index),
        warnings,
    })
}

/// The inventory id of an object (`<ns>_<name>_<group>_<Kind>`), as Flux writes it.
fn inventory_entry(obj: &Value) -> Value {
    let r = ObjectRef::of(obj);
    serde_json::json!({
        "id": format!("{}_{}_{}_{}", r.namespace, r.name, r.group, r.kind),
        "v": r.version,
    })
}

/// The health tree of a HelmRelease: its chart source, its status, and the objects carrying its
/// owner labels (`helm.toolkit.fluxcd.io/name`/`namespace`) among a few common kinds (a
/// HelmRelease keeps no inventory; listing every kind would cost a discovery of the cluster).
pub async fn helm_release_tree(
    live: &LiveClient,
    hr_ref: &ObjectRef,
) -> Result<Fetched<HealthTree>, ViewError> {
    let hr = must_get(live, hr_ref).await?;
    let mut warnings = Vec::new();
    let mut index = ObjectIndex::new();
    let selector = format!(
        "{}={},{}={}",
        trace::HR_NAME_LABEL,
        hr_ref.name,
        trace::HR_NAMESPACE_LABEL,
        hr_ref.namespace
    );
    let mut entries = Vec::new();
    // The release's own manifest from Helm's storage; the owner labels only when there is none.
    let recorded = match helm_release::release_objects(live, &hr).await {
        Ok(r) => r,
        Err(e) => {
            warnings.push(format!("release storage: {e}"));
            None
        }
    };
    if let Some(objects) = &recorded {
        for o in objects {
            let r = ObjectRef::of(o);
            entries.push(inventory_entry(o));
            match live.get(&r).await {
                Ok(Some(v)) => index.insert(v),
                Ok(None) => {}
                Err(e) => warnings.push(format!("{}: {e}", r.display())),
            }
        }
    }
    for (group, version, kind, plural) in HELM_RELEASE_KINDS {
        if recorded.is_some() {
            break;
        }
        let ar = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(group, version, kind),
            plural,
        );
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::all_with(live.client().clone(), &ar);
        match api
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
        {
            Ok(list) => {
                for item in list.items {
                    let Ok(mut v) = serde_json::to_value(item) else {
                        continue;
                    };
                    if let Some(m) = v.as_object_mut() {
                        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
                        m.insert("kind".into(), Value::String(kind.to_string()));
                    }
                    entries.push(inventory_entry(&v));
                    index.insert(v);
                }
            }
            Err(e) => warnings.push(format!("{kind} list: {e}")),
        }
    }
    // Shaped like a Kustomization so the tree builder groups and assesses the objects the same way.
    let mut shaped = hr.clone();
    let source = trace::source_ref_of(&hr);
    if let Some(obj) = shaped.as_object_mut() {
        let status = obj
            .entry("status")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(s) = status.as_object_mut() {
            s.insert(
                "inventory".into(),
                serde_json::json!({ "entries": entries }),
            );
        }
        if let (Some(src), Some(spec)) =
            (&source, obj.get_mut("spec").and_then(Value::as_object_mut))
        {
            spec.insert(
                "sourceRef".into(),
                serde_json::json!({"kind": src.kind, "name": src.name, "namespace": src.namespace}),
            );
        }
    }
    let source_obj = match &source {
        Some(r) => match live.get(r).await {
            Ok(o) => o,
            Err(e) => {
                warnings.push(format!("{}: {e}", r.display()));
                None
            }
        },
        None => None,
    };
    let mut built = tree::kustomization_tree(&shaped, source_obj.as_ref(), &index);
    let chart = helm_chart_label(&hr);
    let owner = if source.is_some() {
        built.root.children.first_mut()
    } else {
        Some(&mut built.root)
    };
    if let Some(owner) = owner {
        owner.detail = chart;
    }
    Ok(Fetched {
        value: built,
        warnings,
    })
}

/// `chart@version` of a HelmRelease (`spec.chart.spec`), else its last attempted revision.
fn helm_chart_label(hr: &Value) -> String {
    let text = |p: &str| hr.pointer(p).and_then(Value::as_str).unwrap_or("");
    let chart = text("/spec/chart/spec/chart");
    let version = text("/spec/chart/spec/version");
    let attempted = text("/status/lastAttemptedRevision");
    match (chart.is_empty(), version.is_empty(), attempted.is_empty()) {
        (false, false, _) => format!("chart {chart}@{version}"),
        (false, true, true) => format!("chart {chart}"),
        (false, true, false) => format!("chart {chart}@{attempted}"),
        (true, _, false) => format!("revision {attempted}"),
        (true, _, true) => String::new(),
    }
}

/// The health tree of a Kustomization, HelmRelease or Argo CD Application.
pub async fn health_tree(
    live: &LiveClient,
    target: &ObjectRef,
    local: &LocalData,
) -> Result<Fetched<HealthTree>, ViewError> {
    match target.kind.as_str() {
        "Kustomization" => kustomization_tree(live, target, local).await,
        "HelmRelease" => helm_release_tree(live, target).await,
        "Application" => application_tree(live, target).await,
        _ => Err(ViewError::Unsupported {
            view: "the health tree",
            object: target.display(),
            supported: "Kustomization, HelmRelease, Application",
        }),
    }
}

/// The dependsOn chain, reverse chain and blocker of a Kustomization or HelmRelease.
pub async fn depends_on(live: &LiveClient, target: &ObjectRef) -> Result<DependsOnView, ViewError> {
    if !matches!(target.kind.as_str(), "Kustomization" | "HelmRelease") {
        return Err(ViewError::Unsupported {
            view: "dependsOn",
            object: target.display(),
            supported: "Kustomization, HelmRelease",
        });
    }
    let subject = must_get(live, target).await?;
    let all = live
        .list(&target.api_version(), &target.kind, "")
        .await
        .map_err(|e| ViewError::Read {
            object: format!("{} list", target.kind),
            message: e.to_string(),
        })?;
    Ok(depends::depends_on_view(&subject, &all))
}

/// The trace of any object: the Kustomization or HelmRelease its owner labels name, and that
/// manager's source.
pub async fn trace_object(live: &LiveClient, target: &ObjectRef) -> Result<Trace, ViewError> {
    let obj = must_get(live, target).await?;
    let manager = match trace::managed_by(&obj) {
        Some(r) => live.get(&r).await.map_err(|e| read_error(&r, e))?,
        None => None,
    };
    let source = match manager.as_ref().and_then(trace::source_ref_of) {
        Some(r) => live.get(&r).await.map_err(|e| read_error(&r, e))?,
        None => None,
    };
    Ok(trace::trace(&obj, manager.as_ref(), source.as_ref()))
}

/// Where the desired state of a diff comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredSource {
    /// A local directory (`flotilla diff --path`): the Kustomization's spec.path in a checkout.
    LocalDir(PathBuf),
    /// The source's artifact: from the controller's data directory when given and it holds the
    /// artifact, else downloaded from `status.artifact.url`.
    Artifact {
        /// The controller's data directory (artifacts under `<dir>/<context>/artifacts`).
        data_dir: Option<PathBuf>,
        /// The kubeconfig context (names the per-cluster directory).
        context: String,
    },
}

/// The root to build from and the spec.path to use for a local `--path` directory: when `dir`
/// ends with the Kustomization's `spec.path`, the directory above it (so `../base` references
/// resolve as in the artifact); else `dir` itself with path `.`.
pub fn local_root(dir: &Path, spec_path: &str) -> (PathBuf, String) {
    let parts: Vec<&str> = Path::new(spec_path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect();
    let mut root = dir.to_path_buf();
    for p in parts.iter().rev() {
        if root.file_name().and_then(|n| n.to_str()) != Some(*p) {
            return (dir.to_path_buf(), ".".to_string());
        }
        root.pop();
    }
    (root, spec_path.to_string())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir() -> Result<Scratch, String> {
    let dir = std::env::temp_dir().join(format!("flotilla-diff-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(Scratch(dir))
}

/// Downloads `url` (an artifact archive) and unpacks it into `dest`, checking its digest.
async fn download_artifact(url: &str, artifact: &Artifact, dest: &Path) -> Result<(), String> {
    let bytes = crate::controllers::source::artifact::download(
        url,
        &artifact.digest,
        ARTIFACT_LIMIT,
        std::time::Duration::from_secs(60),
    )
    .await?;
    extract_tar_gz(&bytes[..], url, dest, ARTIFACT_LIMIT).map_err(|e| e.to_string())
}

/// What applying a Kustomization would change: the desired objects built exactly as the bundled
/// reconciler builds them (from `source`), dry-run with server-side apply and compared with the
/// live objects. Secret values are masked.
pub async fn kustomization_diff(
    live: &LiveClient,
    target: &ObjectRef,
    source: &DesiredSource,
) -> Result<DiffReport, ViewError> {
    if target.kind != "Kustomization" {
        return Err(ViewError::Unsupported {
            view: "diff",
            object: target.display(),
            supported: "Kustomization",
        });
    }
    let desired_err = |message: String| ViewError::Desired {
        object: target.display(),
        message,
    };
    let ks = must_get(live, target).await?;
    let mut spec = parse_kustomization(&ks).map_err(|e| desired_err(e.to_string()))?;
    let mut _scratch = None;
    let root = match source {
        DesiredSource::LocalDir(dir) => {
            let dir = dir
                .canonicalize()
                .map_err(|e| desired_err(format!("--path {}: {e}", dir.display())))?;
            if !dir.is_dir() {
                return Err(desired_err(format!(
                    "--path {} is not a directory",
                    dir.display()
                )));
            }
            let (root, path) = local_root(&dir, &spec.path);
            spec.path = path;
            root
        }
        DesiredSource::Artifact { data_dir, context } => {
            let source_ref =
                tree::source_of(&ks).ok_or_else(|| desired_err("no spec.sourceRef".to_string()))?;
            let source = must_get(live, &source_ref).await?;
            let artifact = source
                .pointer("/status/artifact")
                .and_then(Artifact::from_status)
                .ok_or_else(|| ViewError::Desired {
                    object: source_ref.display(),
                    message: "no artifact yet".to_string(),
                })?;
            let scratch = scratch_dir().map_err(desired_err)?;
            let dir = scratch.0.clone();
            let mut why = Vec::new();
            let mut done = false;
            if let Some(data_dir) = data_dir {
                let store = SourceStorage::new(data_dir, context).artifact_store();
                match store.extract(&artifact, &dir) {
                    Ok(()) => done = true,
                    Err(e) => why.push(format!("not in {}: {e}", store.root().display())),
                }
            }
            if !done {
                match source
                    .pointer("/status/artifact/url")
                    .and_then(Value::as_str)
                {
                    Some(url) if !url.is_empty() => {
                        match download_artifact(url, &artifact, &dir).await {
                            Ok(()) => done = true,
                            Err(e) => why.push(e),
                        }
                    }
                    _ => why.push("status.artifact.url is empty".to_string()),
                }
            }
            if !done {
                return Err(ViewError::Desired {
                    object: target.display(),
                    message: format!(
                        "artifact {} of {} is not reachable from here ({}); use flotilla diff --path",
                        artifact.revision,
                        source_ref.display(),
                        why.join("; ")
                    ),
                });
            }
            _scratch = Some(scratch);
            dir
        }
    };
    let client = live.client().clone();
    let sources = desired::substitute_sources(&client, &spec, &target.namespace)
        .await
        .map_err(|e| desired_err(e.to_string()))?;
    let refs: Vec<Option<&Value>> = sources.iter().map(Option::as_ref).collect();
    // The Kustomization's own SOPS keys, so encrypted Secrets compare as plaintext (masked below).
    let keys =
        crate::controllers::kustomization::decrypt::load_keys(&client, &spec, &target.namespace)
            .await
            .map_err(|e| desired_err(e.to_string()))?;
    let stages = desired::desired_stages(
        &root,
        &spec,
        &target.name,
        &target.namespace,
        &refs,
        keys.as_ref(),
    )
    .map_err(|e| desired_err(e.to_string()))?;
    Ok(diff::diff_kustomization(live, &ks, &stages).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_repositories_are_the_file_remote_and_the_reconciler_cache() {
        let src = json!({
            "kind": "GitRepository",
            "metadata": {"namespace": "flux-system", "name": "repo"},
            "spec": {"url": "https://example.com/org/repo.git"}
        });
        let dirs = local_repositories(&src, "arn:aws/prod", Some(Path::new("/data")));
        assert_eq!(
            dirs,
            vec![
                SourceStorage::new(Path::new("/data"), "arn:aws/prod").git_cache(
                    "flux-system",
                    "repo",
                    "https://example.com/org/repo.git"
                )
            ]
        );
        let file = json!({"kind": "GitRepository", "spec": {"url": "file:///srv/demo.git"}});
        assert_eq!(
            local_repositories(&file, "dev", None),
            vec![PathBuf::from("/srv/demo.git")]
        );
        let oci = json!({"kind": "OCIRepository", "spec": {"url": "oci://x"}});
        assert!(local_repositories(&oci, "dev", Some(Path::new("/data"))).is_empty());
    }

    #[test]
    fn local_root_strips_the_spec_path_suffix() {
        assert_eq!(
            local_root(Path::new("/repo/apps/dev"), "./apps/dev"),
            (PathBuf::from("/repo"), "./apps/dev".to_string())
        );
        assert_eq!(
            local_root(Path::new("/elsewhere/x"), "./apps/dev"),
            (PathBuf::from("/elsewhere/x"), ".".to_string())
        );
        assert_eq!(
            local_root(Path::new("/repo"), "./"),
            (PathBuf::from("/repo"), "./".to_string())
        );
    }

    #[test]
    fn gitops_refs_and_chart_labels() {
        let r = gitops_ref("ks", "flux-system", "apps", None).unwrap();
        assert_eq!(r.api_version(), "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(r.kind, "Kustomization");
        let r = gitops_ref("HelmRelease", "a", "b", Some("v2beta2")).unwrap();
        assert_eq!(r.version, "v2beta2");
        assert!(gitops_ref("pods", "a", "b", None).is_err());
        assert_eq!(
            helm_chart_label(
                &json!({"spec": {"chart": {"spec": {"chart": "podinfo", "version": "6.x"}}}})
            ),
            "chart podinfo@6.x"
        );
        assert_eq!(
            helm_chart_label(&json!({"status": {"lastAttemptedRevision": "1.2.3"}})),
            "revision 1.2.3"
        );
        assert_eq!(helm_chart_label(&json!(7)), "");
        assert_eq!(
            inventory_entry(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "apps"}}))["id"],
            "apps_web_apps_Deployment"
        );
    }
}
