//! `flotilla demo`: the whole GitOps loop on one machine, offline. Three embedded clusters (dev,
//! staging, production), a bare Git repository made from the embedded `demo/` template, a demo
//! image registry publishing tags over time, and the bundled reconciler for all three clusters.
//!
//! Start order: API server → repository → registry → kubeconfig → per-cluster seed (namespace
//! `flux-system`, ConfigMap `demo-settings`, the bootstrap GitRepository + Kustomization of
//! `clusters/<name>/flux-system/`, Argo CD objects in production) → controller. From then on the
//! reconciler owns everything; the demo only commits (`:demo commit`) and publishes (`:demo publish`).

pub mod registry;
pub mod repo;
pub mod template;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use thiserror::Error;

use crate::apiserver::{ApiServerError, ClusterOptions, Server, ServerOptions};
use crate::controllers::bundle::{Controller, ControllerOptions, ControllerStats};
use crate::controllers::source::StorageError;
use registry::{Catalogue, DemoRegistry, Published, RegistryError};
use repo::{CommitInfo, DemoRepo, RepoError};

/// The demo's clusters, in kubeconfig order.
pub const CLUSTERS: &[&str] = &["dev", "staging", "production"];
/// The cluster that gets the Argo CD objects.
const ARGO_CLUSTER: &str = "production";
/// Field manager of the demo's own writes.
const FIELD_MANAGER: &str = "flotilla-demo";
/// The ConfigMap (in `flux-system`) the template's `${…}` variables come from.
pub const SETTINGS_CONFIGMAP: &str = "demo-settings";
/// The Secret (in `flux-system`) holding the demo's SOPS age identity.
pub const AGE_KEY_SECRET: &str = "sops-age";

/// Options of [`Demo::start`].
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to write the kubeconfig (default: `<data dir>/kubeconfig`).
    pub kubeconfig_out: Option<PathBuf>,
    /// Keep repository, artifacts and kubeconfig here (kept on shutdown); `None`: a temporary
    /// directory removed on shutdown.
    pub data_dir: Option<PathBuf>,
    /// Time multiplier: tags are published every `publishEvery / speed`.
    pub speed: f64,
    /// How long the workload simulator takes to roll a Deployment out.
    pub rollout_delay: Duration,
    /// How often Kustomization health checks poll.
    pub health_poll: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            kubeconfig_out: None,
            data_dir: None,
            speed: 1.0,
            rollout_delay: Duration::from_secs(2),
            health_poll: Duration::from_secs(1),
        }
    }
}

/// Why the demo could not start or act.
#[derive(Debug, Error)]
pub enum DemoError {
    /// Invalid options.
    #[error("demo options: {0}")]
    Options(String),
    /// The data directory could not be prepared.
    #[error("demo data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The embedded API server failed.
    #[error(transparent)]
    ApiServer(#[from] ApiServerError),
    /// The demo repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The demo registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The reconciler's artifact storage server could not start.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An object could not be created in a cluster.
    #[error("cannot seed {object} in cluster {cluster}: {message}")]
    Seed {
        /// The cluster.
        cluster: String,
        /// `Kind/namespace/name` or the template file.
        object: String,
        /// Why.
        message: String,
    },
}

/// The running demo.
pub struct Demo {
    server: Server,
    controller: Controller,
    registry: DemoRegistry,
    repo: DemoRepo,
    clients: Vec<(String, kube::Client)>,
    data_dir: PathBuf,
    temporary: bool,
    kubeconfig: PathBuf,
}

impl Demo {
    /// Starts everything; must run inside a multi-threaded tokio runtime.
    pub async fn start(opts: DemoOptions) -> Result<Demo, DemoError> {
        if !(opts.speed.is_finite() && opts.speed > 0.0 && opts.speed <= 1000.0) {
            return Err(DemoError::Options(format!(
                "speed must be a number above 0 and at most 1000, got {}",
                opts.speed
            )));
        }
        let (data_dir, temporary) = match &opts.data_dir {
            Some(d) => (d.clone(), false),
            None => (
                std::env::temp_dir()
                    .join(format!("flotilla-demo-{}", uuid::Uuid::new_v4().simple())),
                true,
            ),
        };
        std::fs::create_dir_all(&data_dir).map_err(|source| DemoError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let started = Demo::start_in(&opts, &data_dir, temporary).await;
        if started.is_err() && temporary {
            // Best effort: nothing else refers to a temporary directory that failed to start.
            let _ = std::fs::remove_dir_all(&data_dir);
        }
        started
    }

    async fn start_in(
        opts: &DemoOptions,
        data_dir: &Path,
        temporary: bool,
    ) -> Result<Demo, DemoError> {
        let catalogue = Catalogue::embedded()?;
        let publish_every = catalogue.publish_every.div_f64(opts.speed);
        let repo_dir = data_dir.join("repository.git");
        let repo = tokio::task::spawn_blocking(move || DemoRepo::open_or_init(&repo_dir))
            .await
            .map_err(|e| DemoError::Options(format!("repository task failed: {e}")))??;
        let registry = DemoRegistry::start(
            catalogue,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(publish_every),
        )
        .await?;
        let server = match Server::start(ServerOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clusters: CLUSTERS.iter().map(|c| c.to_string()).collect(),
            cluster: ClusterOptions {
                rollout_delay: opts.rollout_delay,
                ..ClusterOptions::default()
            },
        })
        .await
        {
            Ok(s) => s,
            Err(e) => {
                registry.shutdown().await;
                return Err(e.into());
            }
        };
        let kubeconfig = opts
            .kubeconfig_out
            .clone()
            .unwrap_or_else(|| data_dir.join("kubeconfig"));
        let clients: Vec<(String, kube::Client)> = server
            .clusters()
            .iter()
            .map(|c| {
                let name = c.cluster.name().to_string();
                (name, kube::Client::new(c.cluster.router(), "default"))
            })
            .collect();
        let prepared = async {
            server.write_kubeconfig(&kubeconfig)?;
            for (name, client) in &clients {
                seed_cluster(name, client, &repo.url(), &registry.host()).await?;
            }
            Ok::<(), DemoError>(())
        }
        .await;
        if let Err(e) = prepared {
            registry.shutdown().await;
            server.shutdown().await;
            return Err(e);
        }
        // Artifacts are served on a free loopback port, so `flotilla diff` from another terminal
        // downloads them from status.artifact.url without knowing the data directory.
        let controller = match Controller::try_start(
            clients.clone(),
            &ControllerOptions {
                data_dir: data_dir.join("controller"),
                health_poll: opts.health_poll,
                storage_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                allow_file_urls: true,
                ..ControllerOptions::default()
            },
        ) {
            Ok(c) => c,
            Err(e) => {
                registry.shutdown().await;
                server.shutdown().await;
                return Err(e.into());
            }
        };
        Ok(Demo {
            server,
            controller,
            registry,
            repo,
            clients,
            data_dir: data_dir.to_path_buf(),
            temporary,
            kubeconfig,
        })
    }

    /// The kubeconfig with one context per cluster (`dev`, `staging`, `production`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Where repository, artifacts and kubeconfig live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the reconciler serves its artifacts (`http://<addr>/<cluster>/…`).
    pub fn storage_addr(&self) -> Option<SocketAddr> {
        self.controller.storage_addr()
    }

    /// The reconciler's progress counters.
    pub fn stats(&self) -> ControllerStats {
        self.controller.stats()
    }

    /// The demo registry.
    pub fn registry(&self) -> &DemoRegistry {
        &self.registry
    }

    /// The demo Git repository.
    pub fn repo(&self) -> &DemoRepo {
        &self.repo
    }

    /// In-process clients of the clusters, by name.
    pub fn clients(&self) -> &[(String, kube::Client)] {
        &self.clients
    }

    /// `:demo publish`: publishes the registry's next tag now.
    pub fn publish_now(&self) -> Option<Published> {
        self.registry.publish_now()
    }

    /// `:demo commit`: commits the repository's next change (scale podinfo in dev) and asks every
    /// cluster's `flux-system` GitRepository to fetch it now rather than at its next interval.
    pub async fn commit_change(&self) -> Result<CommitInfo, DemoError> {
        self.handle().commit_change().await
    }

    /// A cloneable handle for the demo-only console commands (`:demo commit`, `:demo publish`).
    pub fn handle(&self) -> DemoHandle {
        DemoHandle {
            repo: self.repo.clone(),
            publisher: self.registry.publisher(),
            clients: self.clients.clone(),
        }
    }

    /// Stops the reconciler, the registry and the clusters, and removes the data directory unless
    /// it was given with `--data-dir`.
    pub async fn shutdown(self) {
        self.controller.shutdown().await;
        self.registry.shutdown().await;
        self.server.shutdown().await;
        if self.temporary
            && let Err(e) = std::fs::remove_dir_all(&self.data_dir)
        {
            tracing::warn!("cannot remove {}: {e}", self.data_dir.display());
        }
    }
}

/// What the demo-only console commands act on; cheap to clone and `Send`, so a UI task can hold one.
#[derive(Clone)]
pub struct DemoHandle {
    repo: DemoRepo,
    publisher: registry::Publisher,
    clients: Vec<(String, kube::Client)>,
}

impl DemoHandle {
    /// Commits the repository's next change and requests a fetch in every cluster.
    pub async fn commit_change(&self) -> Result<CommitInfo, DemoError> {
        let repo = self.repo.clone();
        let info = tokio::task::spawn_blocking(move || {
            let change = repo.next_change()?;
            repo.commit_change(&change)
        })
        .await
        .map_err(|e| DemoError::Options(format!("commit task failed: {e}")))??;
        for (name, client) in &self.clients {
            if let Err(e) = request_reconcile(client).await {
                tracing::warn!("cannot request a fetch of flux-system in {name}: {e}");
            }
        }
        Ok(info)
    }

    /// Publishes the registry's next tag now.
    pub fn publish_now(&self) -> Option<Published> {
        self.publisher.publish_now()
    }

    /// Runs `:demo <words>` (`commit` or `publish`) and returns the line to show the user.
    pub async fn run_command(&self, words: &str) -> Result<String, DemoError> {
        match words.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["commit"] => {
                let info = self.commit_change().await?;
                let short = info.commit.get(..7).unwrap_or(&info.commit);
                Ok(format!("demo: committed {short} \"{}\"", info.subject))
            }
            ["publish"] => Ok(match self.publish_now() {
                Some(p) => format!("demo: published {}:{}", p.name, p.tag),
                None => "demo: nothing left to publish".to_string(),
            }),
            _ => Err(DemoError::Options(format!(
                ":demo {words}: unknown; use `:demo commit` or `:demo publish`"
            ))),
        }
    }
}

/// Sets `reconcile.fluxcd.io/requestedAt` on the cluster's `flux-system` GitRepository.
async fn request_reconcile(client: &kube::Client) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
        )),
    );
    let now = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}});
    api.patch(
        "flux-system",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

/// The variables `${…}` in the template may use, for one cluster.
pub fn settings(cluster: &str, git_url: &str, registry_host: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("CLUSTER_NAME".to_string(), cluster.to_string()),
        ("DEMO_GIT_URL".to_string(), git_url.to_string()),
        ("DEMO_REGISTRY".to_string(), registry_host.to_string()),
    ])
}

/// The Secret holding the demo's age identity, which the infrastructure Kustomizations decrypt
/// `db-credentials.sops.yaml` with (`spec.decryption.secretRef`).
fn age_key_secret() -> Result<Value, String> {
    let key = template::file(template::AGE_KEY_PATH)
        .ok_or_else(|| "not in the embedded template".to_string())?;
    let key = std::str::from_utf8(key).map_err(|_| "not UTF-8".to_string())?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": AGE_KEY_SECRET, "namespace": "flux-system"},
        "stringData": {"demo.agekey": key},
    }))
}

/// The objects the demo creates in one cluster before the reconciler starts, in apply order.
pub fn seed_objects(
    cluster: &str,
    git_url: &str,
    registry_host: &str,
) -> Result<Vec<Value>, DemoError> {
    let seed_err = |object: &str, message: String| DemoError::Seed {
        cluster: cluster.to_string(),
        object: object.to_string(),
        message,
    };
    let vars = settings(cluster, git_url, registry_host);
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SETTINGS_CONFIGMAP, "namespace": "flux-system"},
            "data": vars,
        }),
        age_key_secret().map_err(|m| seed_err(template::AGE_KEY_PATH, m))?,
    ];
    let sync_path = format!("clusters/{cluster}/flux-system/gotk-sync.yaml");
    let text = template::file(&sync_path)
        .ok_or_else(|| seed_err(&sync_path, "not in the embedded template".into()))?;
    let docs = crate::kustomize::yaml::parse_documents(&String::from_utf8_lossy(text))
        .map_err(|e| seed_err(&sync_path, yaml_error(&e)))?;
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let obj =
            crate::controllers::kustomization::substitute::substitute_object(&doc, &vars, true)
                .map_err(|e| seed_err(&sync_path, e.to_string()))?;
        objects.push(obj);
    }
    if cluster == ARGO_CLUSTER {
        objects
            .push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}));
        for f in template::argocd_files() {
            let docs = crate::kustomize::yaml::parse_documents(&String::from_utf8_lossy(f.content))
                .map_err(|e| seed_err(f.path, yaml_error(&e)))?;
            let now = jiff::Timestamp::now();
            objects.extend(docs.into_iter().filter(|d| !d.is_null()).map(|mut d| {
                shift_timestamps(&mut d, ARGO_TIME_ANCHOR, now);
                d
            }));
        }
    }
    Ok(objects)
}

/// The moment the Argo CD statuses in `demo/argocd/` were "written"; it becomes the demo's start.
const ARGO_TIME_ANCHOR: &str = "2026-08-01T10:00:00Z";

/// Moves every RFC 3339 timestamp string in `value` by `now - anchor`, so the recorded statuses
/// read as minutes old rather than months.
fn shift_timestamps(value: &mut Value, anchor: &str, now: jiff::Timestamp) {
    let Ok(anchor) = anchor.parse::<jiff::Timestamp>() else {
        return;
    };
    let Ok(delta) = now.since(anchor) else {
        return;
    };
    shift_timestamps_by(value, delta, 0);
}

fn shift_timestamps_by(value: &mut Value, delta: jiff::Span, depth: usize) {
    // The template is ours and shallow; the bound only guards against a pathological edit.
    if depth > 64 {
        return;
    }
    match value {
        Value::String(s) if s.len() >= 20 && s.ends_with('Z') => {
            if let Ok(t) = s.parse::<jiff::Timestamp>()
                && let Ok(moved) = t.checked_add(delta)
            {
                *s = moved.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| shift_timestamps_by(v, delta, depth + 1)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| shift_timestamps_by(v, delta, depth + 1)),
        _ => {}
    }
}

fn yaml_error(e: &crate::kustomize::yaml::YamlError) -> String {
    format!("line {}, column {}: {}", e.line, e.column, e.message)
}

/// Server-side applies the seed objects, then writes any `status` they carry.
async fn seed_cluster(
    cluster: &str,
    client: &kube::Client,
    git_url: &str,
    registry_host: &str,
) -> Result<(), DemoError> {
    for mut obj in seed_objects(cluster, git_url, registry_host)? {
        let id = object_id(&obj);
        let seed_err = |message: String| DemoError::Seed {
            cluster: cluster.to_string(),
            object: id.clone(),
            message,
        };
        let status = obj.as_object_mut().and_then(|o| o.remove("status"));
        let dynamic: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(|e| seed_err(e.to_string()))?;
        let gvk = match &dynamic.types {
            Some(t) => GroupVersionKind::try_from(t).map_err(|e| seed_err(e.to_string()))?,
            None => return Err(seed_err("no apiVersion/kind".into())),
        };
        let resource = ApiResource::from_gvk(&gvk);
        let name = dynamic.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match dynamic.metadata.namespace.as_deref() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(|e| seed_err(e.to_string()))?;
        if let Some(status) = status {
            let body = json!({"status": status});
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .map_err(|e| seed_err(format!("status: {e}")))?;
        }
    }
    Ok(())
}

/// `Kind/namespace/name` of an object, for messages.
fn object_id(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    match s("/metadata/namespace") {
        "" => format!("{}/{}", s("/kind"), s("/metadata/name")),
        ns => format!("{}/{ns}/{}", s("/kind"), s("/metadata/name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_objects_substitute_the_repository_url() {
        let objs = seed_objects("staging", "file:///tmp/r.git", "127.0.0.1:5000").expect("seed");
        let ids: Vec<String> = objs.iter().map(object_id).collect();
        assert_eq!(
            ids,
            vec![
                "Namespace/flux-system",
                "ConfigMap/flux-system/demo-settings",
                "Secret/flux-system/sops-age",
                "GitRepository/flux-system/flux-system",
                "Kustomization/flux-system/flux-system",
            ]
        );
        assert_eq!(objs[3]["spec"]["url"], "file:///tmp/r.git");
        assert_eq!(objs[4]["spec"]["path"], "./clusters/staging");
        assert_eq!(objs[1]["data"]["DEMO_REGISTRY"], "127.0.0.1:5000");
        assert_eq!(objs[1]["data"]["CLUSTER_NAME"], "staging");
    }

    #[test]
    fn production_also_gets_the_argo_cd_objects_with_status() {
        let objs = seed_objects("production", "file:///r", "127.0.0.1:1").expect("seed");
        let apps: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "Application").collect();
        assert_eq!(apps.len(), 3);
        let health: Vec<&str> = apps
            .iter()
            .filter_map(|a| a.pointer("/status/health/status").and_then(Value::as_str))
            .collect();
        assert_eq!(health, vec!["Healthy", "Progressing", "Degraded"]);
        assert!(objs.iter().any(|o| o["kind"] == "AppProject"));
        // Recorded times are shifted so the anchor is now: monitoring was reconciled 2 min ago.
        let reconciled = apps[0]
            .pointer("/status/reconciledAt")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .expect("reconciledAt is a timestamp");
        let age = jiff::Timestamp::now().duration_since(reconciled).as_secs();
        assert!((110..=600).contains(&age), "reconciledAt is {age} s old");
    }

    #[test]
    fn timestamp_shifting_leaves_other_strings_alone() {
        let now: jiff::Timestamp = "2026-08-01T11:00:00Z".parse().expect("time");
        let mut v =
            json!({"a": ["2026-08-01T09:58:00Z", "Synced", "2026-13-99T00:00:00Z"], "b": {"c": 7}});
        shift_timestamps(&mut v, ARGO_TIME_ANCHOR, now);
        assert_eq!(
            v,
            json!({"a": ["2026-08-01T10:58:00Z", "Synced", "2026-13-99T00:00:00Z"], "b": {"c": 7}})
        );
        let mut deep = json!("x");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        shift_timestamps(&mut deep, ARGO_TIME_ANCHOR, now);
    }

    #[tokio::test]
    async fn bad_speed_is_refused_before_anything_starts() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            let err = Demo::start(DemoOptions {
                speed,
                ..DemoOptions::default()
            })
            .await
            .err()
            .expect("refused");
            assert!(err.to_string().contains("speed"), "{err}");
        }
    }
}
