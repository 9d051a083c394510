//! The bundled controller over several clusters: one [`Runtime`] per cluster with every reconciler
//! flotilla implements, artifacts and caches under `<data dir>/<cluster>/`, and one handle that
//! reports queue length and in-flight work (for `flotilla controller -v`, the demo and the console
//! header) and stops everything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::image::reconcilers::image_reconcilers;
use super::kustomization::controller::{KustomizationKind, KustomizationReconciler};
use super::runtime::{Reconciler, RunReport, Runtime, RuntimeHandle, RuntimeOptions, RuntimeStats};
use super::source::ArtifactStore;
use super::source::controller::{GitRepositoryKind, GitRepositoryReconciler};

/// Options of the bundled controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Artifacts, git caches and tag stores live below `<data_dir>/<cluster>/`.
    pub data_dir: PathBuf,
    /// Reconciles running at once per cluster.
    pub concurrency: usize,
    /// Only this namespace (`None` = all).
    pub namespace: Option<String>,
    /// Only objects matching this label selector.
    pub label_selector: Option<String>,
    /// How long shutdown waits for in-flight runs.
    pub shutdown_grace: Duration,
    /// How often a Kustomization's health checks poll (Flux: 5 s).
    pub health_poll: Duration,
    /// Where finished runs are reported (for `-v`), if anywhere.
    pub reports: Option<tokio::sync::mpsc::UnboundedSender<RunReport>>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            data_dir: PathBuf::from("flotilla-data"),
            concurrency: 4,
            namespace: None,
            label_selector: None,
            shutdown_grace: Duration::from_secs(30),
            health_poll: Duration::from_secs(5),
            reports: None,
        }
    }
}

/// One cluster to reconcile: its name, a client, and (for impersonation) the client's configuration.
pub struct ClusterConnection {
    /// The context / cluster name.
    pub name: String,
    /// The client.
    pub client: kube::Client,
    /// The configuration the client was built from, if there is one (in-process clients have none).
    pub config: Option<kube::Config>,
}

/// The running controller.
pub struct Controller {
    clusters: Vec<(String, RuntimeHandle)>,
}

/// Cheap, cloneable progress counters of a running controller (for a UI header).
#[derive(Clone)]
pub struct ControllerStats {
    clusters: Vec<(String, RuntimeStats)>,
}

impl ControllerStats {
    /// Keys due and waiting for a worker, over all clusters.
    pub fn queue_len(&self) -> usize {
        self.clusters.iter().map(|(_, s)| s.queue_len()).sum()
    }

    /// Reconciles running now, over all clusters.
    pub fn in_flight(&self) -> usize {
        self.clusters.iter().map(|(_, s)| s.in_flight()).sum()
    }

    /// Reconciles finished since start, over all clusters.
    pub fn runs(&self) -> usize {
        self.clusters.iter().map(|(_, s)| s.runs()).sum()
    }

    /// Per cluster: (name, queue length, in flight).
    pub fn per_cluster(&self) -> Vec<(String, usize, usize)> {
        self.clusters
            .iter()
            .map(|(n, s)| (n.clone(), s.queue_len(), s.in_flight()))
            .collect()
    }
}

/// Every reconciler flotilla runs for one cluster.
pub fn reconcilers(
    client: &kube::Client,
    config: Option<kube::Config>,
    dir: &std::path::Path,
    opts: &ControllerOptions,
) -> Vec<Arc<dyn Reconciler>> {
    let store = ArtifactStore::new(dir.join("artifacts"));
    let git = Arc::new(GitRepositoryReconciler::new(
        client.clone(),
        store.clone(),
        dir.join("git"),
    ));
    let mut ks =
        KustomizationReconciler::new(client.clone(), store, dir.join("build"), opts.health_poll);
    if let Some(c) = config {
        ks = ks.with_config(c);
    }
    let ks = Arc::new(ks);
    let mut all: Vec<Arc<dyn Reconciler>> = vec![
        Arc::new(GitRepositoryKind(git)),
        Arc::new(KustomizationKind(ks)),
    ];
    all.extend(image_reconcilers(client, &dir.join("image")));
    all
}

impl Controller {
    /// Starts one runtime per `(cluster name, client)` (no impersonation).
    pub fn start(clusters: Vec<(String, kube::Client)>, opts: &ControllerOptions) -> Controller {
        let connections = clusters
            .into_iter()
            .map(|(name, client)| ClusterConnection {
                name,
                client,
                config: None,
            })
            .collect();
        Self::start_connections(connections, opts)
    }

    /// Starts one runtime per cluster connection.
    pub fn start_connections(
        clusters: Vec<ClusterConnection>,
        opts: &ControllerOptions,
    ) -> Controller {
        let clusters = clusters
            .into_iter()
            .map(
                |ClusterConnection {
                     name,
                     client,
                     config,
                 }| {
                    let dir = cluster_data_dir(&opts.data_dir, &name);
                    let mut rt = Runtime::new(
                        client.clone(),
                        RuntimeOptions {
                            concurrency: opts.concurrency,
                            namespace: opts.namespace.clone(),
                            label_selector: opts.label_selector.clone(),
                            shutdown_grace: opts.shutdown_grace,
                            cluster: name.clone(),
                            reports: opts.reports.clone(),
                        },
                    );
                    for r in reconcilers(&client, config, &dir, opts) {
                        rt = rt.register(r);
                    }
                    (name, rt.start())
                },
            )
            .collect();
        Controller { clusters }
    }

    /// The progress counters.
    pub fn stats(&self) -> ControllerStats {
        ControllerStats {
            clusters: self
                .clusters
                .iter()
                .map(|(n, h)| (n.clone(), h.stats()))
                .collect(),
        }
    }

    /// The cluster names.
    pub fn clusters(&self) -> Vec<String> {
        self.clusters.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Stops every runtime, letting in-flight runs finish.
    pub async fn shutdown(self) {
        futures::future::join_all(self.clusters.into_iter().map(|(_, h)| h.shutdown())).await;
    }
}

/// A context name as a directory name (contexts may contain `/` or `:`).
/// The directory one cluster's reconcilers keep their data in (`<data_dir>/<context, made safe>`):
/// artifacts under `artifacts/`, Git caches under `git/<ns>/<name>/`.
pub fn cluster_data_dir(data_dir: &std::path::Path, context: &str) -> std::path::PathBuf {
    data_dir.join(safe_dir_name(context))
}

fn safe_dir_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_become_safe_directories() {
        assert_eq!(safe_dir_name("dev"), "dev");
        assert_eq!(safe_dir_name("arn:aws:eks/prod"), "arn_aws_eks_prod");
        assert_eq!(safe_dir_name(".."), "_");
    }
}
