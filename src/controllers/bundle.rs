//! The bundled controller over several clusters: one [`Runtime`] per cluster with every reconciler
//! flotilla implements, artifacts and caches under `<data dir>/<cluster>/`, and one handle that
//! reports queue length and in-flight work (for `flotilla controller -v`, the demo and the console
//! header) and stops everything. With [`ControllerOptions::storage_addr`] it also serves every
//! cluster's artifacts over HTTP ([`StorageServer`]) and advertises that address in
//! `status.artifact.url`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::argo::{ApplicationReconciler, ApplicationSetReconciler, ArgoOptions};
use super::helmrelease::{HelmReleaseKind, HelmReleaseReconciler};
use super::image::reconcilers::try_image_reconcilers;
use super::kustomization::controller::{KustomizationKind, KustomizationReconciler};
use super::kustomization::remote::{RemoteFetcher, RemoteLimits};
use super::notification::intake::HttpServer;
use super::notification::receiver::ReceiverReconciler;
use super::notification::{Dispatcher, DispatcherOptions};
use super::source::artifact_generator::{ArtifactGeneratorKind, ArtifactGeneratorReconciler};
use super::source::bucket::{BucketKind, BucketReconciler};
use super::source::controller::ADVERTISED_ADDRESS;
use super::source::controller::{GitRepositoryKind, GitRepositoryReconciler};
use super::source::external_artifact::ExternalArtifactWatch;
use super::source::helm_chart::{HelmChartKind, HelmChartReconciler};
use super::source::helm_repository::{HelmRepositoryKind, HelmRepositoryReconciler};
use super::source::oci_repository::{OciRepositoryKind, OciRepositoryReconciler};
use super::source::storage::{self, SourceStorage, StorageError, StorageServer, cluster_dir_name};
use crate::runtime::{
    Adapter, EventSink, Reconciler, RunReport, Runtime, RuntimeHandle, RuntimeOptions,
    RuntimeStats, UnknownKind,
};

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
    /// Where the reconcilers' Flux events go in notification-controller's shape, if anywhere.
    pub events: Option<EventSink>,
    /// Serve the artifacts over HTTP on this address (source-controller's `--storage-addr`);
    /// `None`: no server, artifacts advertised under [`ADVERTISED_ADDRESS`].
    pub storage_addr: Option<SocketAddr>,
    /// The address advertised in `status.artifact.url` (`host:port` or a URL prefix;
    /// `--storage-adv-addr`); `None`: the bound address.
    pub storage_adv_addr: Option<String>,
    /// Accept GitRepository `file://` URLs (`--allow-file-urls`). Off by default: a `file://` URL
    /// archives and serves any directory the controller can read; Flux accepts only http(s) and ssh.
    pub allow_file_urls: bool,
    /// Refuse remote bases in kustomizations (kustomize-controller's `--no-remote-bases`).
    pub no_remote_bases: bool,
    /// Serve Flux's event intake here (notification-controller's `--events-addr`), if anywhere.
    pub events_addr: Option<SocketAddr>,
    /// Serve Receiver webhooks here (notification-controller's `--receiver-addr`), if anywhere.
    pub receiver_addr: Option<SocketAddr>,
    /// Tuning of the notification dispatcher.
    pub dispatcher: DispatcherOptions,
    /// Also run Argo CD's application-controller (off by default, see `--argo-applications`).
    pub argo_applications: bool,
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
            events: None,
            storage_addr: None,
            storage_adv_addr: None,
            allow_file_urls: false,
            no_remote_bases: false,
            events_addr: None,
            receiver_addr: None,
            dispatcher: DispatcherOptions::default(),
            argo_applications: false,
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
    storage: Option<StorageServer>,
    dispatcher: Dispatcher,
    intake: Option<HttpServer>,
    receiver: Option<HttpServer>,
    shutdown_grace: Duration,
}

/// Cheap, cloneable progress counters of a running controller (for a UI header).
#[derive(Clone)]
pub struct ControllerStats {
    clusters: Vec<(String, RuntimeStats)>,
    storage_addr: Option<SocketAddr>,
}

impl ControllerStats {
    /// The bound address of the artifact storage server, if one runs.
    pub fn storage_addr(&self) -> Option<SocketAddr> {
        self.storage_addr
    }

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

/// Every reconciler flotilla runs for one cluster; an error when a kind they own is missing from
/// the kind registry.
pub fn reconcilers(
    client: &kube::Client,
    config: Option<kube::Config>,
    dir: &std::path::Path,
    opts: &ControllerOptions,
) -> Result<Vec<Arc<dyn Reconciler>>, UnknownKind> {
    reconcilers_advertising(client, config, dir, opts, ADVERTISED_ADDRESS)
}

/// [`reconcilers`] with GitRepository artifacts advertised under `advertised`.
fn reconcilers_advertising(
    client: &kube::Client,
    config: Option<kube::Config>,
    dir: &std::path::Path,
    opts: &ControllerOptions,
    advertised: &str,
) -> Result<Vec<Arc<dyn Reconciler>>, UnknownKind> {
    let sources = SourceStorage::in_cluster_dir(dir);
    let store = sources.artifact_store();
    let git = Arc::new(
        GitRepositoryReconciler::new(client.clone(), store.clone(), sources.git_root())
            .with_advertised_address(advertised)
            .with_file_urls(opts.allow_file_urls),
    );
    let helm_repo = Arc::new(
        HelmRepositoryReconciler::new(client.clone(), store.clone())
            .with_advertised_address(advertised),
    );
    let helm_chart = Arc::new(
        HelmChartReconciler::new(client.clone(), store.clone(), dir.join("helm-charts"))
            .with_advertised_address(advertised),
    );
    let mut hr =
        HelmReleaseReconciler::new(client.clone(), store.clone(), dir.join("helm-releases"))
            .with_poll(opts.health_poll);
    if let Some(c) = &config {
        hr = hr.with_config(c.clone());
    }
    let bucket = Arc::new(
        BucketReconciler::new(client.clone(), store.clone(), dir.join("buckets"))
            .with_advertised_address(advertised),
    );
    let generator = Arc::new(
        ArtifactGeneratorReconciler::new(client.clone(), store.clone(), dir.join("generator"))
            .with_advertised_address(advertised),
    );
    let oci = Arc::new(
        OciRepositoryReconciler::new(client.clone(), store.clone(), dir.join("oci"))
            .with_advertised_address(advertised),
    );
    let mut ks =
        KustomizationReconciler::new(client.clone(), store, dir.join("build"), opts.health_poll);
    if let Some(c) = config {
        ks = ks.with_config(c);
    }
    ks = ks.with_remote(if opts.no_remote_bases {
        crate::kustomize::RemoteResources::Disabled
    } else {
        let limits = RemoteLimits {
            allow_file_urls: opts.allow_file_urls,
            ..RemoteLimits::default()
        };
        crate::kustomize::RemoteResources::Fetch(Arc::new(RemoteFetcher::new(
            dir.join("remote-bases"),
            limits,
        )))
    });
    let ks = Arc::new(ks);
    let git: GitRepositoryKind = Adapter::new(client.clone(), git)?;
    let ks: KustomizationKind = Adapter::new(client.clone(), ks)?;
    let helm_repo: HelmRepositoryKind = Adapter::new(client.clone(), helm_repo)?;
    let helm_chart: HelmChartKind = Adapter::new(client.clone(), helm_chart)?;
    let hr: HelmReleaseKind = Adapter::new(client.clone(), Arc::new(hr))?;
    let receiver = Adapter::new(
        client.clone(),
        Arc::new(ReceiverReconciler::new(client.clone())),
    )?;
    let generator: ArtifactGeneratorKind = Adapter::new(client.clone(), generator)?;
    let bucket: BucketKind = Adapter::new(client.clone(), bucket)?;
    let oci: OciRepositoryKind = Adapter::new(client.clone(), oci)?;
    let mut all: Vec<Arc<dyn Reconciler>> = vec![
        Arc::new(git),
        Arc::new(ks),
        Arc::new(helm_repo),
        Arc::new(helm_chart),
        Arc::new(hr),
        Arc::new(receiver),
        Arc::new(generator),
        Arc::new(ExternalArtifactWatch),
        Arc::new(bucket),
        Arc::new(oci),
    ];
    all.extend(try_image_reconcilers(
        client,
        &dir.join("image"),
        opts.allow_file_urls,
    )?);
    if opts.argo_applications {
        let argo = ApplicationReconciler::new(
            client.clone(),
            dir.join("argo"),
            ArgoOptions {
                allow_file_urls: opts.allow_file_urls,
                ..ArgoOptions::default()
            },
        )?;
        all.push(Arc::new(argo));
        all.push(Arc::new(ApplicationSetReconciler::new(client.clone())?));
    }
    Ok(all)
}

/// `(cluster name, client)` pairs as connections without impersonation.
fn plain_connections(clusters: Vec<(String, kube::Client)>) -> Vec<ClusterConnection> {
    clusters
        .into_iter()
        .map(|(name, client)| ClusterConnection {
            name,
            client,
            config: None,
        })
        .collect()
}

impl Controller {
    /// Starts one runtime per `(cluster name, client)` (no impersonation).
    pub fn start(clusters: Vec<(String, kube::Client)>, opts: &ControllerOptions) -> Controller {
        Self::start_connections(plain_connections(clusters), opts)
    }

    /// Starts one runtime per cluster connection. When the storage server cannot start (see
    /// [`Controller::try_start_connections`]) the error is logged and artifacts are advertised
    /// under the placeholder [`ADVERTISED_ADDRESS`], as without `storage_addr`.
    pub fn start_connections(
        clusters: Vec<ClusterConnection>,
        opts: &ControllerOptions,
    ) -> Controller {
        let storage = match Self::start_storage(&clusters, opts) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "serving artifacts from the local store only");
                None
            }
        };
        Self::start_with(clusters, opts, storage)
    }

    /// Starts one runtime per cluster connection and, with `opts.storage_addr`, the artifact
    /// storage server; fails when that address cannot be bound.
    pub fn try_start_connections(
        clusters: Vec<ClusterConnection>,
        opts: &ControllerOptions,
    ) -> Result<Controller, StorageError> {
        let storage = Self::start_storage(&clusters, opts)?;
        Ok(Self::start_with(clusters, opts, storage))
    }

    /// [`Controller::start`], failing when the storage server cannot start.
    pub fn try_start(
        clusters: Vec<(String, kube::Client)>,
        opts: &ControllerOptions,
    ) -> Result<Controller, StorageError> {
        Self::try_start_connections(plain_connections(clusters), opts)
    }

    /// The storage server over every cluster's artifact store, when `opts.storage_addr` is set.
    fn start_storage(
        clusters: &[ClusterConnection],
        opts: &ControllerOptions,
    ) -> Result<Option<StorageServer>, StorageError> {
        let Some(addr) = opts.storage_addr else {
            return Ok(None);
        };
        let stores = clusters
            .iter()
            .map(|c| {
                let sources = SourceStorage::new(&opts.data_dir, &c.name);
                (
                    cluster_dir_name(&c.name),
                    sources.artifact_store().root().to_path_buf(),
                )
            })
            .collect();
        StorageServer::start(addr, stores).map(Some)
    }

    fn start_with(
        clusters: Vec<ClusterConnection>,
        opts: &ControllerOptions,
        storage: Option<StorageServer>,
    ) -> Controller {
        let adv = storage.as_ref().map(|s| {
            opts.storage_adv_addr
                .clone()
                .unwrap_or_else(|| storage::advertisable(s.local_addr()).to_string())
        });
        // Every cluster's events go through one dispatcher (Alerts match per cluster).
        let dispatcher = Dispatcher::start(
            clusters
                .iter()
                .map(|c| (c.name.clone(), c.client.clone()))
                .collect(),
            DispatcherOptions {
                namespace: opts.namespace.clone(),
                ..opts.dispatcher.clone()
            },
        );
        let intake = opts.events_addr.and_then(|addr| {
            super::notification::intake::start(addr, dispatcher.clone())
                .map_err(|e| tracing::error!(error = %e, "no event intake"))
                .ok()
        });
        let receiver = opts.receiver_addr.and_then(|addr| {
            let all = clusters
                .iter()
                .map(|c| (c.name.clone(), c.client.clone()))
                .collect();
            super::notification::receiver::start(addr, all)
                .map_err(|e| tracing::error!(error = %e, "no webhook receiver"))
                .ok()
        });
        let clusters = clusters
            .into_iter()
            .map(
                |ClusterConnection {
                     name,
                     client,
                     config,
                 }| {
                    let sources = SourceStorage::new(&opts.data_dir, &name);
                    let dir = sources.cluster_dir();
                    let mut rt = Runtime::new(
                        client.clone(),
                        RuntimeOptions {
                            concurrency: opts.concurrency,
                            namespace: opts.namespace.clone(),
                            label_selector: opts.label_selector.clone(),
                            shutdown_grace: opts.shutdown_grace,
                            cluster: name.clone(),
                            reports: opts.reports.clone(),
                            events: Some(dispatcher.sink_for(&name, opts.events.clone())),
                        },
                    );
                    let advertised = match &adv {
                        Some(a) => storage::advertised_base(a, &cluster_dir_name(&name)),
                        None => ADVERTISED_ADDRESS.to_string(),
                    };
                    match reconcilers_advertising(&client, config, dir, opts, &advertised) {
                        Ok(all) => {
                            for r in all {
                                rt = rt.register(r);
                            }
                        }
                        // The kinds are a static table, so this is a build defect, not a user error.
                        Err(e) => tracing::error!(cluster = %name, error = %e, "no reconcilers"),
                    }
                    (name, rt.start())
                },
            )
            .collect();
        Controller {
            clusters,
            storage,
            dispatcher,
            intake,
            receiver,
            shutdown_grace: opts.shutdown_grace,
        }
    }

    /// The bound address of the artifact storage server, if one runs.
    pub fn storage_addr(&self) -> Option<SocketAddr> {
        self.storage.as_ref().map(StorageServer::local_addr)
    }

    /// The notification dispatcher (its feed and counters).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The bound address of Flux's event intake, if it runs.
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.intake.as_ref().map(HttpServer::local_addr)
    }

    /// The bound address of the Receiver webhook server, if it runs.
    pub fn receiver_addr(&self) -> Option<SocketAddr> {
        self.receiver.as_ref().map(HttpServer::local_addr)
    }

    /// The progress counters.
    pub fn stats(&self) -> ControllerStats {
        ControllerStats {
            clusters: self
                .clusters
                .iter()
                .map(|(n, h)| (n.clone(), h.stats()))
                .collect(),
            storage_addr: self.storage_addr(),
        }
    }

    /// The cluster names.
    pub fn clusters(&self) -> Vec<String> {
        self.clusters.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Stops every runtime, letting in-flight runs finish.
    /// The storage server stops after the runtimes (in-flight reconciles may still read
    /// artifacts) and gives running downloads the same grace.
    pub async fn shutdown(self) {
        for s in self.receiver.iter().chain(self.intake.iter()) {
            s.shutdown();
        }
        futures::future::join_all(self.clusters.into_iter().map(|(_, h)| h.shutdown())).await;
        self.dispatcher.shutdown();
        if let Some(s) = self.storage {
            s.shutdown(self.shutdown_grace).await;
        }
    }
}
