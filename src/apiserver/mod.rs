//! The embedded Kubernetes API server: store + event log, REST handlers, watch, server-side apply, CRD
//! registry, OpenAPI stub, workload simulator, kubeconfig writer, fault injection. A server, not a
//! client: it uses only `model` and `patch`.

mod discovery;
pub mod errors;
mod faults;
pub mod managed_fields;
mod objects;
mod reads;
pub mod registry;
mod routes;
mod scale;
mod server;
pub mod simulator;
pub mod store;
pub mod table;
mod type_check;
mod watch;

pub use faults::Faults;
pub use server::{RunningCluster, Server, ServerOptions};

use registry::Registry;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::Store;

/// Options for one virtual cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Cluster name (`dev`).
    pub name: String,
    /// Preinstall `flotilla::model::crd::compact_crds()`.
    pub builtin_crds: bool,
    /// More CRD objects to preinstall (from `--crds DIR`).
    pub extra_crds: Vec<Value>,
    /// Run the workload simulator.
    pub simulate: bool,
    /// Simulator convergence delay.
    pub rollout_delay: Duration,
    /// Watch event ring size.
    pub history: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            name: "default".into(),
            builtin_crds: true,
            extra_crds: Vec::new(),
            simulate: true,
            rollout_delay: Duration::from_secs(2),
            history: 10_000,
        }
    }
}

/// Why the server could not start or a cluster could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A preinstalled CRD was rejected.
    #[error("cannot install CRD {name}: {message}")]
    Crd {
        /// The CRD's name.
        name: String,
        /// Why.
        message: String,
    },
    /// The simulator needs a tokio runtime.
    #[error("the workload simulator needs a tokio runtime: create the cluster inside one")]
    NoRuntime,
    /// Writing the kubeconfig failed.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The path.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Invalid server options.
    #[error("{0}")]
    Options(String),
}

/// Store and registry, guarded together so CRD changes and object writes are atomic.
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
}

/// The shared insides of a cluster.
pub(crate) struct Inner {
    name: String,
    state: Mutex<State>,
    faults: faults::FaultState,
    /// Bumped to end every open watch (fault injection, shutdown).
    close_watches: tokio::sync::watch::Sender<u64>,
    /// Set when the simulator must stop.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Inner {
    /// Locks the state. A poisoned lock is recovered: handlers never leave it half-written because
    /// every write is computed first and stored in one step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn close_watches(&self) {
        self.close_watches.send_modify(|v| *v += 1);
    }
}

/// One virtual cluster: store + event log + REST handlers. Cheap to clone (Arc inside).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// Namespaces every cluster starts with.
const SEED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Cluster {
    /// Creates the cluster (seeds namespaces default, kube-system, kube-public, kube-node-lease and the
    /// CRDs). Must be called inside a tokio runtime when `simulate` is true.
    pub fn new(opts: ClusterOptions) -> Result<Cluster, ApiServerError> {
        let (close_watches, _) = tokio::sync::watch::channel(0u64);
        let (stop, _) = tokio::sync::watch::channel(false);
        let cluster = Cluster {
            inner: Arc::new(Inner {
                name: opts.name.clone(),
                state: Mutex::new(State {
                    store: Store::new(opts.history),
                    registry: Registry::with_builtins(),
                }),
                faults: faults::FaultState::default(),
                close_watches,
                stop,
            }),
        };
        {
            let mut st = cluster.inner.lock();
            for ns in SEED_NAMESPACES {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                st.seed("/namespaces", body)
                    .map_err(|e| ApiServerError::Options(e.message))?;
            }
            let crd_name = |c: &Value| {
                c.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let extra_names: Vec<Option<String>> = opts.extra_crds.iter().map(crd_name).collect();
            // An extra CRD (e.g. the real upstream one) replaces the compact CRD of the same name.
            let mut crds: Vec<Value> = if opts.builtin_crds {
                crate::model::crd::compact_crds()
                    .into_iter()
                    .filter(|c| !extra_names.contains(&crd_name(c)))
                    .collect()
            } else {
                Vec::new()
            };
            crds.extend(opts.extra_crds.iter().cloned());
            for crd in crds {
                let name = crd
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("<unnamed>")
                    .to_string();
                st.seed("apiextensions.k8s.io/customresourcedefinitions", crd)
                    .map_err(|e| ApiServerError::Crd {
                        name,
                        message: e.message,
                    })?;
            }
        }
        if opts.simulate {
            let handle =
                tokio::runtime::Handle::try_current().map_err(|_| ApiServerError::NoRuntime)?;
            let client = kube::Client::new(cluster.router(), "default");
            let sim_opts = simulator::SimulatorOptions {
                rollout_delay: opts.rollout_delay,
            };
            let mut stop = cluster.inner.stop.subscribe();
            // The simulator holds only a client over the router; the stop signal ends it.
            handle.spawn(simulator::run(client, sim_opts, async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
        }
        Ok(cluster)
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The axum Router WITHOUT authentication: for `kube::Client::new(cluster.router(), "default")`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.inner.clone(), None)
    }

    /// The Router with bearer-token authentication (401 Status without the token); what TCP serves.
    pub fn http_router(&self, token: &str) -> axum::Router {
        routes::router(self.inner.clone(), Some(token.to_string()))
    }

    /// Fault injection for tests.
    pub fn faults(&self) -> Faults {
        Faults {
            cluster: self.inner.clone(),
        }
    }

    /// Number of objects stored (all kinds), for tests and benchmarks.
    pub fn object_count(&self) -> usize {
        self.inner.lock().store.count()
    }

    /// Stops the simulator and ends open watches (used by `Server::shutdown`).
    pub(crate) fn stop(&self) {
        self.inner.stop.send_replace(true);
        self.inner.close_watches();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
