//! Serving clusters over loopback TCP, and the kubeconfig that points kubectl at them.

use super::{ApiServerError, Cluster, ClusterOptions};
use axum::serve::ListenerExt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinHandle;

/// Options for `flotilla apiserver`: several clusters on loopback.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Listen address; port 0 = a random port per cluster, a fixed port P gives P, P+1, ...
    pub listen: SocketAddr,
    /// Cluster names.
    pub clusters: Vec<String>,
    /// Template for every cluster (the name is overwritten).
    pub cluster: ClusterOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clusters: vec!["dev".into(), "staging".into(), "production".into()],
            cluster: ClusterOptions::default(),
        }
    }
}

/// A cluster served over TCP.
pub struct RunningCluster {
    /// The cluster.
    pub cluster: Cluster,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its bearer token.
    pub token: String,
}

impl RunningCluster {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Several clusters, each on its own port with a random bearer token.
pub struct Server {
    clusters: Vec<RunningCluster>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Quotes a string for YAML (a JSON string is a valid YAML double-quoted scalar).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Server {
    /// Binds one listener per cluster and starts serving.
    pub async fn start(opts: ServerOptions) -> Result<Server, ApiServerError> {
        if opts.clusters.is_empty() {
            return Err(ApiServerError::Options("no cluster names given".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for name in &opts.clusters {
            if name.is_empty() || !seen.insert(name) {
                return Err(ApiServerError::Options(format!(
                    "cluster names must be non-empty and unique: {name:?}"
                )));
            }
        }
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut server = Server {
            clusters: Vec::new(),
            stop,
            tasks: Vec::new(),
        };
        for (i, name) in opts.clusters.iter().enumerate() {
            let mut addr = opts.listen;
            if addr.port() != 0 {
                let port = u16::try_from(usize::from(addr.port()) + i).map_err(|_| {
                    ApiServerError::Options(format!("port {} + {i} is out of range", addr.port()))
                })?;
                addr.set_port(port);
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ApiServerError::Bind { addr, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| ApiServerError::Bind { addr, source })?;
            // Watch events are small writes: without TCP_NODELAY, Nagle's algorithm holds one back
            // until the previous one is acknowledged (up to the peer's delayed-ACK timeout).
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY on an apiserver connection: {e}");
                }
            });
            let cluster = Cluster::new(ClusterOptions {
                name: name.clone(),
                ..opts.cluster.clone()
            })?;
            let token = random_token();
            let router = cluster.http_router(&token);
            let mut stop = server.stop.subscribe();
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::warn!("apiserver listener {addr} failed: {e}");
                }
            });
            server.tasks.push(task);
            server.clusters.push(RunningCluster {
                cluster,
                addr,
                token,
            });
        }
        Ok(server)
    }

    /// The running clusters, in the order they were named.
    pub fn clusters(&self) -> &[RunningCluster] {
        &self.clusters
    }

    /// kubeconfig YAML: one context per cluster (cluster and user entries too), token auth,
    /// `http://127.0.0.1:PORT/flotilla-token/<token>` servers (kubectl sends no bearer header over plain
    /// http, so the token rides in the path too), namespace default, current-context = first cluster.
    pub fn kubeconfig(&self) -> String {
        let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for c in &self.clusters {
            let n = q(c.cluster.name());
            // The token is also in the server path: kubectl sends no Authorization header over
            // plain http (kubernetes/kubectl#744); kube-rs sends both.
            let server = format!("{}{}{}", c.url(), super::routes::TOKEN_PATH_PREFIX, c.token);
            out.push_str(&format!(
                "- name: {n}\n  cluster:\n    server: {}\n",
                q(&server)
            ));
        }
        out.push_str("users:\n");
        for c in &self.clusters {
            out.push_str(&format!(
                "- name: {}\n  user:\n    token: {}\n",
                q(c.cluster.name()),
                q(&c.token)
            ));
        }
        out.push_str("contexts:\n");
        for c in &self.clusters {
            let n = q(c.cluster.name());
            out.push_str(&format!(
                "- name: {n}\n  context:\n    cluster: {n}\n    user: {n}\n    namespace: default\n"
            ));
        }
        let current = self
            .clusters
            .first()
            .map(|c| q(c.cluster.name()))
            .unwrap_or_else(|| "\"\"".into());
        out.push_str(&format!("current-context: {current}\npreferences: {{}}\n"));
        out
    }

    /// Writes kubeconfig() atomically (temp file + rename), mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ApiServerError> {
        let err = |source| ApiServerError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubeconfig".into());
        let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let result = (|| {
            let mut f = options.open(&tmp)?;
            f.write_all(self.kubeconfig().as_bytes())?;
            f.sync_all()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            }
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(err)
    }

    /// Stops serving (open watches end) and waits for the listeners to close.
    pub async fn shutdown(self) {
        for c in &self.clusters {
            c.cluster.stop();
        }
        self.stop.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, WatchParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use kube::runtime::WatchStreamExt;
    use std::time::Duration;

    async fn client_of(server: &Server, dir: &Path) -> kube::Client {
        let path = dir.join("kubeconfig");
        server.write_kubeconfig(&path).expect("kubeconfig written");
        let kc = Kubeconfig::read_from(&path).expect("kubeconfig read");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }

    /// A kube-runtime watcher re-opens its watch as soon as one ends; shutdown must still return,
    /// and a plain watch stream must end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_returns_and_ends_watches_with_a_watcher_open() {
        let server = Server::start(ServerOptions {
            clusters: vec!["dev".into()],
            cluster: ClusterOptions {
                simulate: false,
                ..ClusterOptions::default()
            },
            ..ServerOptions::default()
        })
        .await
        .expect("server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let client = client_of(&server, dir.path()).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "default");

        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let watcher_api = api.clone();
        let watcher = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let cfg = kube::runtime::watcher::Config::default();
            // With backoff: once the server is gone the watcher's retries sleep (and so yield),
            // otherwise its reconnect loop can spin without yielding and the abort never lands.
            let mut events = kube::runtime::watcher(watcher_api, cfg)
                .default_backoff()
                .boxed();
            while let Some(ev) = events.next().await {
                if matches!(ev, Ok(kube::runtime::watcher::Event::InitDone))
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(20), ready_rx)
            .await
            .expect("watcher initialised in time")
            .expect("watcher task alive");
        let mut plain = api
            .watch(&WatchParams::default().timeout(290), "0")
            .await
            .expect("plain watch opens")
            .boxed();

        tokio::time::timeout(Duration::from_secs(20), server.shutdown())
            .await
            .expect("shutdown returned with a watcher open");
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(ev) = plain.next().await {
                if ev.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the plain watch stream ended after shutdown");
        watcher.abort();
    }
}
