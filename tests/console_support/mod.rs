//! Shared by the tests that drive the real `flotilla` binary against a spawned `flotilla apiserver`
//! (`get_cli.rs`, `console_tmux.rs`): the server process, clients from its kubeconfig, and realistic
//! Flux and Argo CD objects with their status.
#![allow(dead_code)]

use flotilla::cluster::clients::api_resource;
use flotilla::cluster::{Clients, Contexts, KubeconfigSource};
use flotilla::model::lookup;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Generous bound for anything that should happen "soon" (never an assertion about speed).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, panicking with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `flotilla apiserver` process (killed on drop) and its kubeconfig.
pub struct ApiserverProcess {
    /// The `flotilla apiserver` process; `None` for real kube-apiservers.
    child: Option<tokio::process::Child>,
    /// Real kube-apiservers standing in for the clusters ([`ApiserverProcess::real`]).
    real: Vec<crate::common::real_kube::RealCluster>,
    /// Holds the kubeconfig and HOME.
    pub dir: tempfile::TempDir,
    /// The kubeconfig it wrote (one context per cluster).
    pub kubeconfig: PathBuf,
    /// Clients over that kubeconfig.
    pub clients: Clients,
}

impl ApiserverProcess {
    /// Starts the server with these clusters and waits until every context answers.
    pub async fn start(clusters: &[&str]) -> ApiserverProcess {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        // FLOTILLA_BIN (e.g. a release build, for measurements) else the binary cargo built.
        let bin = std::env::var_os("FLOTILLA_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flotilla")));
        let child = tokio::process::Command::new(bin)
            .args([
                "apiserver",
                "--no-simulate",
                "--clusters",
                &clusters.join(","),
            ])
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .arg("--log-file")
            .arg(dir.path().join("apiserver.log"))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("flotilla apiserver starts");
        let path = kubeconfig.clone();
        wait_until("the kubeconfig", PATIENCE, || {
            let path = path.clone();
            async move { path.exists().then_some(()) }
        })
        .await;
        let contexts =
            Contexts::load(&KubeconfigSource::from_env(Some(&kubeconfig)).unwrap()).unwrap();
        let clients = Clients::new(contexts);
        for c in clusters {
            let clients = clients.clone();
            wait_until(
                &format!("context {c} serving Kustomizations"),
                PATIENCE,
                || {
                    let clients = clients.clone();
                    async move {
                        let api: Api<DynamicObject> = Api::all_with(
                            clients.client(c).await.ok()?,
                            &api_resource(lookup("ks")?, "v1"),
                        );
                        api.list(&ListParams::default()).await.ok()
                    }
                },
            )
            .await;
        }
        ApiserverProcess {
            child: Some(child),
            real: Vec::new(),
            dir,
            kubeconfig,
            clients,
        }
    }

    /// The same clusters as real kube-apiservers (one each, upstream CRDs installed) in one
    /// kubeconfig, so a test body runs unchanged against the real server.
    pub async fn real(clusters: &[&str]) -> ApiserverProcess {
        use crate::common::real_kube::{RealCluster, write_combined_kubeconfig};
        let real = futures::future::join_all(clusters.iter().map(|c| RealCluster::start(c))).await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        write_combined_kubeconfig(&kubeconfig, &real.iter().collect::<Vec<_>>());
        let contexts =
            Contexts::load(&KubeconfigSource::from_env(Some(&kubeconfig)).unwrap()).unwrap();
        ApiserverProcess {
            child: None,
            real,
            dir,
            kubeconfig,
            clients: Clients::new(contexts),
        }
    }

    /// The server's process id (`None` for real kube-apiservers).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Creates `obj` in `context` (and its namespace) and sets its status: through /status where the
    /// CRD has that subresource, else with a patch of the object (upstream Argo CD CRDs).
    pub async fn create(&self, context: &str, obj: Value, status: Option<Value>) {
        let av = obj["apiVersion"].as_str().unwrap().to_string();
        let version = av.rsplit_once('/').unwrap().1;
        let info = lookup(obj["kind"].as_str().unwrap()).unwrap();
        let ns = obj["metadata"]["namespace"].as_str().unwrap().to_string();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let client = self.clients.client(context).await.unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create namespace {ns} in {context}: {e}"),
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, &ns, &api_resource(info, version));
        api.create(
            &PostParams::default(),
            &serde_json::from_value(obj).unwrap(),
        )
        .await
        .unwrap();
        if let Some(status) = status {
            let body = Patch::Merge(json!({"status": status}));
            if api
                .patch_status(&name, &PatchParams::default(), &body)
                .await
                .is_err()
            {
                api.patch(&name, &PatchParams::default(), &body)
                    .await
                    .unwrap();
            }
        }
    }

    /// The object as the server has it now.
    pub async fn get(&self, context: &str, kind: &str, ns: &str, name: &str) -> Value {
        self.clients
            .fetch_object(context, kind, ns, name)
            .await
            .unwrap()
    }
}

/// A Flux status with one Ready condition.
pub fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": status, "reason": reason,
        "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
        "lastAppliedRevision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"})
}

/// A Kustomization with labels.
pub fn ks(name: &str, ns: &str, labels: Value) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"interval": "10m", "path": "./deploy", "prune": true,
                    "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})
}

/// A GitRepository.
pub fn git(name: &str, ns: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "1m", "url": "https://example.com/fleet.git", "ref": {"branch": "main"}}})
}

/// A HelmRelease.
pub fn hr(name: &str, ns: &str) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"interval": "5m", "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}})
}

/// An Argo CD Application with auto-sync.
pub fn application(name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"project": "default",
                    "source": {"repoURL": "https://example.com/apps.git", "path": name, "targetRevision": "HEAD"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                    "syncPolicy": {"automated": {"prune": true}}}})
}

/// Whether tmux can be run (the tmux end-to-end tests skip, saying so, when it cannot).
pub fn tmux_available() -> bool {
    std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private tmux server (its own socket) with one session running `sh` with a fixed prompt;
/// killed on drop. For end-to-end tests of the real binary in a real terminal.
pub struct TmuxPane {
    socket: String,
}

/// The prompt of [`TmuxPane`]'s shell.
pub const TMUX_PROMPT: &str = "flotilla-test$";

impl TmuxPane {
    /// Starts the session `width`×`height` with HOME=`home` and TERM=xterm-256color.
    pub fn start(name: &str, home: &std::path::Path, width: u16, height: u16) -> TmuxPane {
        let pane = TmuxPane {
            socket: format!("flotilla-{name}-{}", std::process::id()),
        };
        let path = std::env::var("PATH").unwrap_or_default();
        let shell = format!(
            "env -i PATH='{path}' HOME='{}' TERM=xterm-256color PS1='{TMUX_PROMPT} ' sh",
            home.display()
        );
        let out = pane.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &shell,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        pane
    }

    /// Runs a tmux command against this server.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The visible pane.
    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "main", "-l", text])
                .status
                .success()
        );
    }

    /// Sends named keys (`Enter`, `Escape`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// A tmux format of the pane (`#{alternate_on}`).
    pub fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display", "-p", "-t", "main", format]).stdout)
            .trim()
            .to_string()
    }

    /// Polls the pane until `pred` holds; panics with the last screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if std::time::Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TmuxPane {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The last non-empty line of a screen, trimmed.
pub fn last_screen_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}
